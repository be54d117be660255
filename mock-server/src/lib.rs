//! kling-mock
pub mod media;
