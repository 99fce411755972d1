//! The generated wire types of `proto/ccpulse/v1/*.proto`: prost messages
//! (binary protobuf) with pbjson serde impls (the proto3 JSON mapping).
//!
//! Nothing here is validated; [`super::decode`] turns an [`Envelope`] into a
//! validated [`crate::event::Event`]. Build a [`DeadLetter`] with
//! [`super::DecodeError::to_dead_letter`].

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/ccpulse.v1.rs"));
include!(concat!(env!("OUT_DIR"), "/ccpulse.v1.serde.rs"));
