//! Generates the gRPC code from `proto/` with protox (pure Rust: no system `protoc`), the
//! protobuf-JSON serde impls (pbjson) the CLI's `--json` uses, and the descriptor set that
//! server reflection serves.
use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "netpilot/v1/resources.proto",
    "netpilot/v1/manager.proto",
    "netpilot/v1/session.proto",
    "netpilot/v1/agent.proto",
    "netpilot/v1/setup.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS)?;
    let descriptor = compiler.encode_file_descriptor_set();
    std::fs::write(out_dir.join("netpilot_descriptor.bin"), &descriptor)?;

    tonic_prost_build::configure()
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        // Malformed requests are INVALID_ARGUMENT, not prost's INTERNAL (src/api/codec.rs).
        .codec_path("crate::api::codec::Codec")
        .compile_fds(compiler.file_descriptor_set())?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor)?
        .preserve_proto_field_names()
        .build(&[".netpilot"])?;

    for file in compiler.files() {
        if let Some(path) = file.path() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}
