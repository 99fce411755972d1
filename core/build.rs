//! Generates the wire types from `proto/`: prost structs plus pbjson serde
//! impls (the proto3 JSON mapping). The .proto files are parsed by protox, so
//! building needs no system `protoc`.

// A build script runs at build time, not in the fold: it may read its
// environment (core/clippy.toml is about the library).
#![allow(clippy::disallowed_methods)]

use std::{env, error::Error, path::PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    println!("cargo:rerun-if-changed={}", root.display());

    let files = [
        root.join("ccpulse/v1/events.proto"),
        root.join("ccpulse/v1/effects.proto"),
    ];
    let fds = protox::compile(&files, [&root])?;

    // Well-known types come from pbjson-types, which also carries their JSON
    // mapping (RFC 3339 timestamps).
    prost_build::Config::new()
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds.clone())?;

    let mut json = pbjson_build::Builder::new();
    for file in fds.file {
        json.register_file_descriptor(file);
    }
    // pbjson-build maps `.google.protobuf` to `::pbjson_types` by itself.
    json
        // Binary protobuf skips unknown fields; JSON does the same so that a
        // producer can add a field before its consumers know it.
        .ignore_unknown_fields()
        .build(&[".ccpulse.v1"])?;
    Ok(())
}
