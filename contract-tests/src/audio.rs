//! Decoding served media to measure how long it plays (symphonia: MP3, WAV).

use std::io::Cursor;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Seconds of audio in `bytes` (an MP3 or WAV file), by decoding every packet.
pub fn duration_secs(bytes: Vec<u8>, ext_hint: &str) -> Result<f64, String> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext_hint);
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| format!("not a recognised audio file: {e}"))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or("no audio track")?;
    let id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or("no audio parameters")?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| format!("no decoder: {e}"))?;
    let (mut frames, mut rate) = (0u64, 0u32);
    while let Some(packet) = format
        .next_packet()
        .map_err(|e| format!("read error: {e}"))?
    {
        if packet.track_id != id {
            continue;
        }
        let buf = decoder
            .decode(&packet)
            .map_err(|e| format!("decode error: {e}"))?;
        rate = buf.spec().rate();
        frames += buf.frames() as u64;
    }
    if rate == 0 {
        return Err("no audio decoded".into());
    }
    Ok(frames as f64 / rate as f64)
}
