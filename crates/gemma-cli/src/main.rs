//! The `gemma` command line.
fn main() {}
