//! Tests of the whole Tupfile front end on real files in temporary projects.
