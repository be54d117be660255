//! Real media files behind every result URL.
pub mod audio;
