//! Compiles `swim.proto` with protox (pure Rust), so no `protoc` binary is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=swim.proto");
    let descriptors = protox::compile(["swim.proto"], ["."])?;
    prost_build::Config::new()
        .bytes(["."])
        // A key to install travels in `KeyOp.key`: its `Debug` (in lib.rs)
        // shows the key's length, never its bytes.
        .skip_debug(["swim.v1.KeyOp"])
        .compile_fds(descriptors)?;
    Ok(())
}
