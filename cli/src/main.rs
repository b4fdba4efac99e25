//! The `edgeid` command-line tool (in progress).
fn main() {}
