#!/bin/sh
echo '#define GREETING_VERSION "1.0"'
