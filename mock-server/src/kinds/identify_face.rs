//! Identify face: `POST /v1/videos/identify-face` (SOURCES.md: Advanced Lip-Sync; kling-api.md
//! §5.8 (b)). Synchronous: the answer holds the session and the faces.
//!
//! Request: `video_id` (a finished video of the caller's, at most 60 s) xor `video_url` (`.mp4 /
//! .mov`; a foreign one counts as 5 s). Answer: `{session_id, final_unit_deduction, face_data:
//! [{face_id, face_image, start_time, end_time}]}`, times in ms inside the video.
//!
//! The session belongs to the caller and is valid 24 h on the mock's clock; it is kept as a media
//! id ([`crate::media::Origin::FaceSession`]), so it is saved with `--state-file` and forgotten by
//! a reset with the caller's other media ids. Its faces follow from the video's length alone
//! ([`faces_of`]): one face on screen the whole video; from 6 s on, two faces whose windows
//! overlap in the middle third. Each face has a real PNG (`face_image`).

use super::Ctx;
use super::faces::{self, VideoRef};
use super::fields::Fields;
use crate::auth::Account;
use crate::error::KlingError;
use crate::media::{Format, ImageFile, Label, MediaItem, Origin};
use serde::Serialize;
use serde_json::{Map, Value};

/// The kind: its path and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("identify-face"),
    path: "/v1/videos/identify-face",
    mode: super::Mode::Call {
        parse: |body| Ok(Box::new(IdentifyFace::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::CALL_LIFECYCLE,
    // --timing-profile realistic: synchronous.
    realistic: super::CALL_LIFECYCLE,
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "0",
    doc,
    extras: &[],
};

/// Shortest and longest video, ms (kling-api.md §5.8 (b): 2–60 s).
pub const VIDEO_MS: (u64, u64) = (2_000, 60_000);
/// From this length on, a video shows two faces, ms.
pub const TWO_FACES_MS: u64 = 6_000;
/// The side of a `face_image`, px.
pub const FACE_PX: u32 = 256;

/// A validated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifyFace {
    /// `video_id` / `video_url`.
    pub video: VideoRef,
}

impl IdentifyFace {
    /// Validate a body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        Ok(IdentifyFace {
            video: VideoRef::parse(&f, "video_id or video_url is required")?,
        })
    }
}

/// One face of a session: its id and its window in the video, ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Face {
    /// `face_id`.
    pub id: u32,
    /// `start_time`, ms.
    pub start: u64,
    /// `end_time`, ms.
    pub end: u64,
}

/// The faces of a video of `ms`: one on screen throughout; from [`TWO_FACES_MS`] on, a second
/// one, the first leaving at two thirds and the second arriving at one third.
pub fn faces_of(ms: u64) -> Vec<Face> {
    if ms < TWO_FACES_MS {
        return vec![Face {
            id: 0,
            start: 0,
            end: ms,
        }];
    }
    vec![
        Face {
            id: 0,
            start: 0,
            end: ms * 2 / 3,
        },
        Face {
            id: 1,
            start: ms / 3,
            end: ms,
        },
    ]
}

/// A session of the caller's, valid at `now` (issued less than 24 h ago): the identified video's
/// id and file token (zero for a foreign URL) and length, ms. Unknown, foreign or expired: a 400
/// naming `field`.
pub fn session(
    s: &Ctx<'_>,
    account: &Account,
    field: &str,
    id: &str,
) -> Result<(u64, crate::media::Token, u64), KlingError> {
    let now = s.clock.now_ms();
    let item = id
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| s.media.item(account.idx, n, now));
    match item {
        Some(MediaItem {
            origin: Origin::FaceSession { video_id, file },
            duration_ms,
            created_at,
            ..
        }) => {
            if now >= created_at.saturating_add(faces::SESSION_MS) {
                return Err(KlingError::param(format!(
                    "{field}: session {id} has expired (a session of identify-face is valid for 24 hours)"
                )));
            }
            Ok((video_id, file, duration_ms))
        }
        _ => Err(KlingError::param(format!(
            "{field}: Session not found by id: {id}"
        ))),
    }
}

#[derive(Serialize)]
struct WireFace {
    face_id: String,
    face_image: String,
    start_time: u64,
    end_time: u64,
}

/// The answer's `data`.
#[derive(Serialize)]
struct IdentifyData {
    session_id: String,
    final_unit_deduction: &'static str,
    face_data: Vec<WireFace>,
}

impl super::Call for IdentifyFace {
    fn answer(
        &self,
        s: &Ctx<'_>,
        account: &Account,
        fail: Option<String>,
    ) -> Result<axum::response::Response, KlingError> {
        let src = faces::resolve_video(s, account, &self.video, VIDEO_MS)?;
        if let Some(reason) = src.failure {
            return Err(KlingError::param(format!("video_url: {reason}")));
        }
        let now = s.clock.now_ms();
        let ms = src.shape.ms();
        let session_id = s.ids.next(now);
        let (video_id, file) = src.parent.unwrap_or((0, [0; 16]));
        s.media.add_item(
            session_id,
            MediaItem {
                account: account.idx,
                origin: Origin::FaceSession { video_id, file },
                duration_ms: ms,
                created_at: now,
            },
        );
        // An outcome rule's failure: no face was found (the session holds none).
        let found = if fail.is_some() {
            Vec::new()
        } else {
            faces_of(ms)
        };
        let n = found.len() as u32;
        let face_data = found
            .iter()
            .map(|face| {
                let token = s.entropy.token();
                let pic = s.media.add_image(
                    token,
                    ImageFile {
                        task_id: session_id,
                        index: face.id,
                        n,
                        width: FACE_PX,
                        height: FACE_PX,
                        seed: u64::from_le_bytes(token[..8].try_into().unwrap_or_default()),
                        watermark: false,
                        label: Label::new(&format!("face {}", face.id)),
                        format: Format::Png,
                        born: Some(now),
                    },
                );
                WireFace {
                    face_id: face.id.to_string(),
                    face_image: pic.url(s.engine.base_url()),
                    start_time: face.start,
                    end_time: face.end,
                }
            })
            .collect();
        Ok(crate::wire::data_response(&IdentifyData {
            session_id: session_id.to_string(),
            final_unit_deduction: SPEC.unit_deduction,
            face_data,
        }))
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    KindDoc {
        tag: "video",
        ids: ["identifyFace", "", ""],
        summaries: [
            "Find the faces of a video: a session for advanced lip-sync",
            "",
            "",
        ],
        description: "SOURCES.md: Advanced Lip-Sync; kling-api.md §5.8 (b). Synchronous. The session is valid for 24 hours and belongs to the caller.",
        request: "IdentifyFaceRequest",
        answer: "IdentifyFaceResult",
        answer_description: "The session and the faces found, with their time windows in the video (ms).",
        field_rules: "neither or both of video_id and video_url, a video_url that is not an http(s) .mp4/.mov URL, a video_id that does not name a finished video of the caller's of 2–60 s, or a URL of the mock's own that names no file",
        schemas: vec![
            (
                "IdentifyFaceResult",
                json!({
                    "type": "object",
                    "required": ["session_id", "final_unit_deduction", "face_data"],
                    "properties": {
                        "session_id": id_schema(),
                        "final_unit_deduction": {"type": "string"},
                        "face_data": {"type": "array", "items": {
                            "type": "object",
                            "required": ["face_id", "face_image", "start_time", "end_time"],
                            "properties": {
                                "face_id": {"type": "string"},
                                "face_image": {"type": "string", "format": "uri", "description": "A PNG of the face."},
                                "start_time": {"type": "integer", "description": "ms from the video's start."},
                                "end_time": {"type": "integer", "description": "ms from the video's start."},
                            },
                        }},
                    },
                }),
            ),
            (
                "IdentifyFaceRequest",
                json!({
                    "type": "object",
                    "description": "Exactly one of video_id and video_url. Unknown fields are ignored.",
                    "properties": {
                        "video_id": {"type": "string", "description": "A finished video of the caller's, 2–60 s."},
                        "video_url": {"type": "string", "pattern": url_pattern(&["mp4", "mov"])},
                    },
                    "examples": [{"video_id": "860000000000000001"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn faces_lie_inside_the_video() {
        assert_eq!(
            faces_of(5_000),
            vec![Face {
                id: 0,
                start: 0,
                end: 5_000
            }]
        );
        let two = faces_of(9_000);
        assert_eq!(two.len(), 2);
        assert!(
            two.iter()
                .all(|f| f.end <= 9_000 && f.end - f.start >= 2_000)
        );
        assert_eq!((two[1].start, two[1].end), (3_000, 9_000));
    }

    #[test]
    fn exactly_one_video_is_required() {
        let e = IdentifyFace::parse(json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(e.message, "video_id or video_url is required");
        let e = IdentifyFace::parse(json!({"video_url": "ftp://x/a.mp4"}).as_object().unwrap())
            .unwrap_err();
        assert!(e.message.starts_with("video_url must be"), "{}", e.message);
    }
}
