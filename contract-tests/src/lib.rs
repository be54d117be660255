//! # kling-contract
//!
//! Conformance checks for the Kling API, run against `kling-mock` or the real service.
//! This crate is the contract harness's home; its properties arrive with their own issue. What
//! is here now is the part every property needs: signing requests the way a Kling client does.
//!
//! # Layout
//!
//! * [`client`]: JWT (HS256) bearer tokens from an access key and a secret key, built by the
//!   harness itself (it never borrows the mock's code, so the mock is not graded by itself).

pub mod client;
