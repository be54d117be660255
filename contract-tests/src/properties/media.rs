//! *media*: every result URL can be fetched, decodes as audio, and lasts its declared duration
//! (within 50 ms: encoders pad to whole frames).

use super::{billable_cases, check_envelope, create_ok, ensure, fail, need_budget};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use crate::target::Reply;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// Largest accepted difference between declared and decoded duration, seconds.
pub const TOLERANCE: f64 = 0.05;

fn check_file(
    ctx: &Ctx,
    url: &Value,
    duration: &Value,
    reply: &Reply,
) -> Result<(), TestCaseError> {
    let url = url
        .as_str()
        .ok_or_else(|| fail("a result has no URL", reply))?;
    let declared: f64 = duration
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            fail(
                format!("the duration of {url} is not a number string"),
                reply,
            )
        })?;
    let (status, bytes) = ctx.target.fetch(url).map_err(|e| fail(e, reply))?;
    ensure(
        status == 200,
        format!("GET {url} answered HTTP {status}"),
        reply,
    )?;
    let ext = url
        .split('?')
        .next()
        .and_then(|p| p.rsplit('.').next())
        .unwrap_or("mp3")
        .to_string();
    let secs =
        crate::audio::duration_secs(bytes, &ext).map_err(|e| fail(format!("{url}: {e}"), reply))?;
    ensure(
        (secs - declared).abs() <= TOLERANCE,
        format!("{url} plays {secs:.3}s, declared {declared}s"),
        reply,
    )
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    need_budget(ctx, 1)?;
    let strategy = prop_oneof![(30u32..=100).prop_map(Some), Just(None),];
    check(
        ctx,
        seed,
        billable_cases(ctx),
        (strategy, "[a-z ]{1,80}"),
        |(t2a, words)| match t2a {
            Some(tenths) => {
                let body = json!({"prompt": "contract media", "duration": tenths as f64 / 10.0});
                let (_, id) = create_ok(ctx, "text_to_audio_create", 0, body)?;
                let replies = ctx.settle(0, &ctx.contract.endpoint("text_to_audio_get").path, &id);
                let last = replies
                    .last()
                    .ok_or_else(|| TestCaseError::fail("no answer"))?;
                check_envelope(ctx, last, "task")?;
                ensure(
                    last.data()["task_status"] == "succeed",
                    "the task did not succeed",
                    last,
                )?;
                for a in last.data()["task_result"]["audios"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    crate::shape::check(
                        &ctx.contract.shapes,
                        &Value::from("audio_t2a"),
                        a,
                        "audio",
                    )
                    .map_err(|e| fail(e, last))?;
                    check_file(ctx, &a["url_mp3"], &a["duration_mp3"], last)?;
                    check_file(ctx, &a["url_wav"], &a["duration_wav"], last)?;
                }
                Ok(())
            }
            None => {
                let body = json!({"text": format!("contract {words}"), "voice_id": "oversea_male1", "voice_language": "en"});
                let Ok(r) = ctx.create("tts", 0, body) else {
                    return Err(TestCaseError::reject("no budget"));
                };
                check_envelope(ctx, &r, "tts")?;
                ensure(r.is_success(), "TTS refused a valid request", &r)?;
                for a in r.data()["task_result"]["audios"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    crate::shape::check(
                        &ctx.contract.shapes,
                        &Value::from("audio_tts"),
                        a,
                        "audio",
                    )
                    .map_err(|e| fail(e, &r))?;
                    check_file(ctx, &a["url"], &a["duration"], &r)?;
                }
                Ok(())
            }
        },
    )
}
