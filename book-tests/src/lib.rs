//! Compiles and runs the code of the guide's chapters as doctests.
