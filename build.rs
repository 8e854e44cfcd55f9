//! Link tupfs's binaries as position-dependent executables.
//!
//! Why: a PIE binary of this size carries ~22,000 relative relocations
//! that the dynamic loader applies at every start (~0.7 ms, and a private
//! copy of every page they touch). tupfs is started for every build, and
//! the monitor's no-op costs little more than starting it. The code is
//! still compiled position-independent; only the final link differs.

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
