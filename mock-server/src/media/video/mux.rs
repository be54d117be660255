//! The MP4 container ("faststart": `ftyp`, `moov`, then `mdat`, so a player can start before the
//! whole file has arrived) and the MP3 sound track.
//!
//! * Video: one `avc1` track, timescale `fps * 1000` (each frame lasts exactly 1000 ticks), an
//!   `avcC` built from the SPS and PPS, length-prefixed samples, a sync-sample table listing the
//!   first picture of every GOP. The movie's timescale is the video's, so the declared duration
//!   is exactly frames / fps.
//! * Sound: MPEG-1 Layer III at 48 kHz mono 64 kbit/s (object type 0x6B in the `esds`), an edit
//!   list that skips LAME's delay (576 encoder + 529 decoder samples) and ends with the video.
//!   MP3 rather than AAC: LAME is already in the build (the audio files), and no maintained
//!   pure-build AAC encoder crate is; every browser and ffmpeg play MP3 in MP4.
//! * Layout: one chunk per sample, each audio frame placed after the video frame it overlaps.

use super::VideoError;
use crate::media::audio;
use mp4_atom::{
    Audio, Avc1, Avcc, Codec, Dinf, Dref, DrefEntry, Edts, Elst, ElstEntry, Encode, Esds, FourCC,
    Ftyp, Hdlr, Mdhd, Mdia, Minf, Moov, Mp4a, Mvhd, Smhd, Stbl, Stco, Stsc, StscEntry, Stsd, Stss,
    Stsz, StszSamples, Stts, SttsEntry, Tkhd, Trak, Url, Visual, Vmhd, esds,
};
use std::num::NonZeroU32;

/// Audio sample rate in the MP4 (MPEG-1 Layer III).
pub(crate) const AUDIO_RATE: u32 = 48_000;
/// PCM samples per MPEG-1 Layer III frame.
pub(crate) const MP3_FRAME: u32 = 1_152;
/// LAME's encoder delay plus the decoder's delay: samples before the first real one.
pub(crate) const MP3_DELAY: u64 = 576 + 529;
/// Ticks per frame in the video timescale (`fps * TICKS`).
pub(crate) const TICKS: u32 = 1_000;

/// The sound of a video: `secs_num / secs_den` seconds of speech-like audio from `seed`, as MP3
/// frames (each a whole MPEG frame, 1152 samples).
pub(crate) fn mp3_frames(seed: u64, frames: u32, fps: u32) -> Result<Vec<Vec<u8>>, VideoError> {
    use mp3lame_encoder::{Bitrate, Builder, FlushGap, Mode, MonoPcm, Quality};
    let fail = |e: String| VideoError::Audio(e);
    // Real samples at 48 kHz, rounded up to whole samples.
    let real = (u64::from(AUDIO_RATE) * u64::from(frames)).div_ceil(u64::from(fps.max(1))) as usize;
    // The audio module speaks at 24 kHz: synthesize there, then double the rate by linear
    // interpolation (LAME's low-pass removes what little imaging is left).
    let half = audio::synthesize(
        audio::Sound {
            seed,
            style: audio::Style::Speech,
        },
        (real.div_ceil(2) as u32).min(audio::MAX_SAMPLES),
    );
    let mut pcm = Vec::with_capacity(real + 2 * MP3_FRAME as usize);
    for (i, &s) in half.iter().enumerate() {
        let next = half.get(i + 1).copied().unwrap_or(0);
        pcm.push(s);
        pcm.push(((i32::from(s) + i32::from(next)) / 2) as i16);
    }
    pcm.truncate(real);
    let cfg = |e: mp3lame_encoder::BuildError| fail(e.to_string());
    let mut enc = Builder::new()
        .ok_or_else(|| fail("LAME could not allocate".into()))?
        .with_num_channels(1)
        .map_err(cfg)?
        .with_sample_rate(AUDIO_RATE)
        .map_err(cfg)?
        .with_output_sample_rate(NonZeroU32::new(AUDIO_RATE))
        .map_err(cfg)?
        .with_mode(Mode::Mono)
        .map_err(cfg)?
        .with_vbr_mode(mp3lame_encoder::VbrMode::Off)
        .map_err(cfg)?
        .with_brate(Bitrate::Kbps64)
        .map_err(cfg)?
        .with_quality(Quality::Ok)
        .map_err(cfg)?
        .with_to_write_vbr_tag(false)
        .map_err(cfg)?
        .build()
        .map_err(cfg)?;
    let mut out = Vec::with_capacity(pcm.len() / 6 + 8_192);
    for chunk in pcm.chunks(1 << 13) {
        out.reserve(mp3lame_encoder::max_required_buffer_size(chunk.len()));
        enc.encode_to_vec(MonoPcm(chunk), &mut out)
            .map_err(|e| fail(e.to_string()))?;
    }
    out.reserve(7_200);
    enc.flush_to_vec::<FlushGap>(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    split_frames(&out)
}

/// Split an MPEG-1 Layer III stream into its frames.
fn split_frames(mut d: &[u8]) -> Result<Vec<Vec<u8>>, VideoError> {
    const KBPS: [usize; 16] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
    ];
    let mut frames = Vec::new();
    while d.len() >= 4 {
        if d[0] != 0xff || d[1] & 0xfe != 0xfa {
            return Err(VideoError::Audio("lost MPEG-1 Layer III frame sync".into()));
        }
        let rate = [44_100, 48_000, 32_000, 0][usize::from((d[2] >> 2) & 3)];
        let kbps = KBPS[usize::from(d[2] >> 4)];
        // A reserved sample rate (0) gives length 0, refused below.
        let len = (144_000 * kbps)
            .checked_div(rate)
            .map_or(0, |n| n + usize::from((d[2] >> 1) & 1));
        if len < 4 || len > d.len() {
            return Err(VideoError::Audio("bad MP3 frame length".into()));
        }
        frames.push(d[..len].to_vec());
        d = &d[len..];
    }
    Ok(frames)
}

/// What [`mux`] writes.
pub(crate) struct Tracks<'a> {
    pub width: u16,
    pub height: u16,
    pub fps: u32,
    pub sps: &'a [u8],
    pub pps: &'a [u8],
    /// Every video sample in order, and whether it is a sync sample (an IDR picture).
    pub video: Vec<(&'a [u8], bool)>,
    /// The MP3 frames, if the video has sound.
    pub audio: Option<&'a [Vec<u8>]>,
}

fn mp4_err(e: mp4_atom::Error) -> VideoError {
    VideoError::Mux(e.to_string())
}

/// A complete faststart MP4 of `t`.
pub(crate) fn mux(t: &Tracks<'_>) -> Result<Vec<u8>, VideoError> {
    let frames = t.video.len() as u64;
    let timescale = t.fps * TICKS;
    let duration = frames * u64::from(TICKS);
    // mdat body: each video frame, then the audio frames that start before the next one.
    let payload = t.video.iter().map(|s| s.0.len()).sum::<usize>()
        + t.audio.map_or(0, |a| a.iter().map(Vec::len).sum());
    let mut mdat = Vec::with_capacity(payload);
    let (mut v_off, mut a_off) = (Vec::with_capacity(t.video.len()), Vec::new());
    let mut ai = 0usize;
    let audio = t.audio.unwrap_or(&[]);
    for (i, (s, _)) in t.video.iter().enumerate() {
        v_off.push(mdat.len() as u64);
        mdat.extend_from_slice(s);
        // In audio samples (48 kHz), the end of frame i.
        let end = (i as u64 + 1) * u64::from(AUDIO_RATE) / u64::from(t.fps);
        while ai < audio.len() && (ai as u64) * u64::from(MP3_FRAME) < end + MP3_DELAY {
            a_off.push(mdat.len() as u64);
            mdat.extend_from_slice(&audio[ai]);
            ai += 1;
        }
    }
    for frame in &audio[ai..] {
        a_off.push(mdat.len() as u64);
        mdat.extend_from_slice(frame);
    }
    let stbl = |sizes: Vec<u32>, delta: u32| -> Stbl {
        let count = sizes.len();
        Stbl {
            stts: Stts {
                entries: vec![SttsEntry {
                    sample_count: count as u32,
                    sample_delta: delta,
                }],
            },
            stsc: Stsc {
                entries: vec![StscEntry {
                    first_chunk: 1,
                    samples_per_chunk: 1,
                    sample_description_index: 1,
                }],
            },
            stsz: Stsz {
                samples: StszSamples::Different { sizes },
            },
            stco: Some(Stco {
                entries: vec![0; count],
            }),
            ..Default::default()
        }
    };
    let dinf = Dinf {
        dref: Dref {
            entries: vec![DrefEntry::Url(Url {
                location: String::new(),
            })],
        },
    };
    let mut vstbl = stbl(t.video.iter().map(|s| s.0.len() as u32).collect(), TICKS);
    vstbl.stsd = Stsd {
        codecs: vec![Codec::Avc1(Avc1 {
            visual: Visual {
                data_reference_index: 1,
                width: t.width,
                height: t.height,
                depth: 24,
                ..Default::default()
            },
            avcc: Avcc::new(t.sps, t.pps).map_err(mp4_err)?,
            ..Default::default()
        })],
    };
    vstbl.stss = Some(Stss {
        entries: t
            .video
            .iter()
            .enumerate()
            .filter(|s| s.1.1)
            .map(|(i, _)| i as u32 + 1)
            .collect(),
    });
    let vtrak = Trak {
        tkhd: Tkhd {
            track_id: 1,
            duration,
            enabled: true,
            in_movie: true,
            width: t.width.into(),
            height: t.height.into(),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale,
                duration,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(b"vide"),
                name: "kling-mock video".into(),
            },
            minf: Minf {
                vmhd: Some(Vmhd::default()),
                dinf: dinf.clone(),
                stbl: vstbl,
                ..Default::default()
            },
        },
        ..Default::default()
    };
    let mut moov = Moov {
        mvhd: Mvhd {
            timescale,
            duration,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: 3,
            ..Default::default()
        },
        trak: vec![vtrak],
        ..Default::default()
    };
    if let Some(a) = t.audio {
        let mut astbl = stbl(a.iter().map(|f| f.len() as u32).collect(), MP3_FRAME);
        astbl.stsd = Stsd {
            codecs: vec![Codec::Mp4a(Mp4a {
                audio: Audio {
                    data_reference_index: 1,
                    channel_count: 1,
                    sample_size: 16,
                    sample_rate: (AUDIO_RATE as u16).into(),
                },
                esds: Esds {
                    es_desc: esds::EsDescriptor {
                        es_id: 2,
                        dec_config: esds::DecoderConfig {
                            // ISO/IEC 11172-3 (MPEG-1 audio): MP3.
                            object_type_indication: 0x6B,
                            stream_type: 0x05,
                            max_bitrate: 64_000,
                            avg_bitrate: 64_000,
                            dec_specific: None,
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                },
                btrt: None,
                taic: None,
            })],
        };
        moov.trak.push(Trak {
            tkhd: Tkhd {
                track_id: 2,
                duration,
                enabled: true,
                in_movie: true,
                volume: 1.into(),
                alternate_group: 1,
                ..Default::default()
            },
            // Present exactly the video's length of sound, from the first real sample.
            edts: Some(Edts {
                elst: Some(Elst {
                    entries: vec![ElstEntry {
                        segment_duration: duration,
                        media_time: Some(MP3_DELAY),
                        media_rate: 1.into(),
                    }],
                }),
            }),
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale: AUDIO_RATE,
                    duration: a.len() as u64 * u64::from(MP3_FRAME),
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: FourCC::new(b"soun"),
                    name: "kling-mock sound".into(),
                },
                minf: Minf {
                    smhd: Some(Smhd::default()),
                    dinf,
                    stbl: astbl,
                    ..Default::default()
                },
            },
            ..Default::default()
        });
    }
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"isom"),
        minor_version: 512,
        compatible_brands: vec![
            FourCC::new(b"isom"),
            FourCC::new(b"iso2"),
            FourCC::new(b"avc1"),
            FourCC::new(b"mp41"),
        ],
    };
    let mut head = Vec::new();
    ftyp.encode(&mut head).map_err(mp4_err)?;
    // The moov's size does not depend on the offsets (32-bit stco entries): measure it with
    // placeholders, then write it with the real offsets.
    let mut probe = Vec::new();
    moov.encode(&mut probe).map_err(mp4_err)?;
    let base = (head.len() + probe.len() + 8) as u64;
    if base + mdat.len() as u64 > u64::from(u32::MAX) {
        return Err(VideoError::Mux("file over 4 GiB".into()));
    }
    let offsets = |o: &[u64]| Stco {
        entries: o.iter().map(|o| (o + base) as u32).collect(),
    };
    moov.trak[0].mdia.minf.stbl.stco = Some(offsets(&v_off));
    if t.audio.is_some() {
        moov.trak[1].mdia.minf.stbl.stco = Some(offsets(&a_off));
    }
    let mut out = Vec::with_capacity(base as usize + mdat.len());
    out.extend_from_slice(&head);
    moov.encode(&mut out).map_err(mp4_err)?;
    debug_assert_eq!(out.len() as u64 + 8, base);
    out.extend_from_slice(&((mdat.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(&mdat);
    Ok(out)
}
