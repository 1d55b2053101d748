//! `nyrodb`: the NyroDB server binary and administration CLI.

fn main() {
    println!("nyrodb {}", env!("CARGO_PKG_VERSION"));
}
