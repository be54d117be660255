//! *voices*: TTS accepts exactly the official TTS voices in their own language; a custom voice
//! appears in its owner's list only; only the owner can delete it, and then it is gone; presets
//! cannot be deleted (checked only on a mock target: the harness never deletes what it did not
//! create on a real account).

use super::{billable_cases, check_envelope, ensure, fail, need_budget};
use crate::ctx::Ctx;
use crate::model::Verdict;
use crate::report::{PropResult, check};
use crate::strategies::SAMPLE_VOICE_URL;
use crate::target::{Auth, Request};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// A case.
#[derive(Clone, Debug)]
pub enum Case {
    /// TTS with this voice id and language.
    Tts(String, String),
    /// The custom voice round trip.
    Custom,
}

fn listed(ctx: &Ctx, account: usize, task_id: &str) -> Result<bool, TestCaseError> {
    let path = &ctx.contract.endpoint("custom_voice_list").path;
    for page in 1..=20 {
        let r = ctx.get(account, &format!("{path}?pageNum={page}&pageSize=100"));
        check_envelope(ctx, &r, "task_list")?;
        let items = r.data().as_array().cloned().unwrap_or_default();
        if items.iter().any(|t| t["task_id"] == task_id) {
            return Ok(true);
        }
        if items.len() < 100 {
            break;
        }
    }
    Ok(false)
}

fn delete(ctx: &Ctx, account: usize, voice_id: &str) -> crate::target::Reply {
    let path = ctx.contract.endpoint("delete_voice").path.clone();
    ctx.target
        .call(&Request::post(path, json!({"voice_id": voice_id})).auth(Auth::Account(account)))
}

fn custom_round_trip(ctx: &Ctx) -> Result<(), TestCaseError> {
    let body = json!({"voice_name": "contract", "voice_url": SAMPLE_VOICE_URL, "external_task_id": ctx.unique("voice")});
    let created = super::sent(ctx.create("custom_voice_create", 0, body))?;
    ensure(
        created.is_success(),
        "a valid custom voice was refused",
        &created,
    )?;
    let task = created.data()["task_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let replies = ctx.settle(0, &ctx.contract.endpoint("custom_voice_get").path, &task);
    let last = replies
        .last()
        .ok_or_else(|| TestCaseError::fail("no answer"))?;
    check_envelope(ctx, last, "task")?;
    if last.data()["task_status"] != "succeed" {
        return Err(fail(
            "the custom voice did not succeed (the sample may be unusable on this target)",
            last,
        ));
    }
    let voice = last.data()["task_result"]["voices"][0].clone();
    crate::shape::check(
        &ctx.contract.shapes,
        &Value::from("voice"),
        &voice,
        "voices[0]",
    )
    .map_err(|e| fail(e, last))?;
    let voice_id = voice["voice_id"].as_str().unwrap_or_default().to_string();
    ensure(
        voice["owned_by"] != "kling",
        "a custom voice is owned by 'kling'",
        last,
    )?;
    ensure(
        listed(ctx, 0, &task)?,
        "the new voice is not in its owner's list",
        last,
    )?;
    if ctx.target.has_second_account() {
        ensure(
            !listed(ctx, 1, &task)?,
            "the voice is in another account's list",
            last,
        )?;
        let r = delete(ctx, 1, &voice_id);
        check_envelope(ctx, &r, "deleted")?;
        ensure(!r.is_success(), "another account deleted the voice", &r)?;
        ensure(
            listed(ctx, 0, &task)?,
            "the voice vanished after another account's delete",
            &r,
        )?;
    }
    if ctx.target.is_mock {
        let presets = ctx.get(
            0,
            &format!("{}?pageSize=1", ctx.contract.endpoint("presets_list").path),
        );
        check_envelope(ctx, &presets, "preset_list")?;
        if let Some(p) = presets.data()[0]["task_result"]["voices"][0]["voice_id"].as_str() {
            let r = delete(ctx, 0, p);
            check_envelope(ctx, &r, "deleted")?;
            ensure(!r.is_success(), "a preset voice was deleted", &r)?;
        }
    }
    let r = delete(ctx, 0, &voice_id);
    check_envelope(ctx, &r, "deleted")?;
    ensure(r.is_success(), "the owner could not delete the voice", &r)?;
    ensure(
        !listed(ctx, 0, &task)?,
        "a deleted voice is still listed",
        &r,
    )?;
    Ok(())
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    need_budget(ctx, 1)?;
    let mut voices: Vec<(String, String)> = ctx.contract.tts_voices.iter().cloned().collect();
    voices.sort();
    let ids: Vec<String> = voices
        .iter()
        .map(|v| v.0.clone())
        .chain(["no_such_voice".to_string()])
        .collect();
    let strategy = prop_oneof![
        4 => (select(ids), select(vec!["zh".to_string(), "en".to_string()])).prop_map(|(v, l)| Case::Tts(v, l)),
        1 => Just(Case::Custom),
    ];
    check(
        ctx,
        seed,
        billable_cases(ctx).max(2),
        strategy,
        |case| match case {
            Case::Custom => custom_round_trip(ctx),
            Case::Tts(voice, lang) => {
                let body = json!({"text": "contract voice check", "voice_id": voice, "voice_language": lang});
                let verdict = ctx.contract.judge("tts", &body);
                let r = super::sent(ctx.create("tts", 0, body))?;
                check_envelope(ctx, &r, "tts")?;
                match verdict {
                    Verdict::Accept => ensure(
                        r.is_success(),
                        format!("TTS refused official voice {voice} in {lang}"),
                        &r,
                    ),
                    Verdict::Reject(_) => ensure(
                        r.status == 400 && r.code() == Some(1201),
                        format!("TTS must refuse {voice} in {lang} with 400 / 1201"),
                        &r,
                    ),
                }
            }
        },
    )
}
