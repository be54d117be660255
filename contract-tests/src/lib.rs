//! kling-contract
