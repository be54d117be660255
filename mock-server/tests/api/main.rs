//! Integration tests of kling-mock over real HTTP on 127.0.0.1:0. One binary; `helpers` spawns
//! the app with a frozen clock so tests move time by hand instead of sleeping.

mod helpers;

mod auth;
mod binary;
mod callback_control;
mod callback_safety;
mod callbacks;
mod config_file;
mod control;
mod determinism;
mod effects;
mod elements;
mod embed;
mod envelope;
mod faces;
mod hostile;
mod image_files;
mod images;
mod isolation;
mod isolation_prop;
mod latency;
mod layers;
mod lifecycle;
mod media;
mod multi_elements;
mod openapi;
mod paging;
mod persistence;
mod restart_prop;
mod retention;
mod text_to_audio;
mod tls;
mod transport;
mod tts;
mod video;
mod video_files;
mod video_inputs;
mod video_to_audio;
mod voices;
