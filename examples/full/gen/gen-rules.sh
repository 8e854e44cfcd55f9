#!/bin/sh
# Prints the rule that writes greeting.h (run by the parser, not the build).
echo ": |> ^o GEN %o^ echo '#define GREETING \"$1\"' > %o |> greeting.h <hdrs>"
