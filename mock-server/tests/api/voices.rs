use crate::helpers::*;
use kling_mock::kinds::custom_voice;
use kling_mock::media::{MediaItem, Origin, VideoSource};
use serde_json::{Value, json};

const CV: &str = "/v1/general/custom-voices";

fn sample() -> Value {
    json!({"voice_name": "ada", "voice_url": "https://example.com/sample.wav"})
}

#[tokio::test]
async fn creating_a_custom_voice_answers_a_submitted_task() {
    let app = spawn_app().await;
    let a = app.post(CV, json!({"voice_name": "ada", "voice_url": "https://x.test/a.mp3", "external_task_id": "mine-1"})).await;
    let d = a.ok();
    let id = d["task_id"].as_str().unwrap();
    assert!(
        id.len() == 18 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(d["task_status"], "submitted");
    assert_eq!(d["task_info"], json!({"external_task_id": "mine-1"}));
    assert_eq!(d["created_at"], d["updated_at"]);
    assert_eq!(d["created_at"].as_i64().unwrap(), app.now_ms());
}

#[tokio::test]
async fn a_finished_custom_voice_shows_its_voice_and_deduction() {
    let app = spawn_app().await;
    let id = app.create_voice(AK, SK, "Narrator").await;
    app.advance(FINISH);
    let a = app.get(&format!("{CV}/{id}")).await;
    let d = a.ok();
    assert_eq!(d["task_status"], "succeed");
    assert_eq!(d["task_status_msg"], "");
    assert_eq!(d["final_unit_deduction"], "0.05");
    let voices = d["task_result"]["voices"].as_array().unwrap();
    assert_eq!(voices.len(), 1);
    let v = &voices[0];
    assert_eq!(v["voice_name"], "Narrator");
    assert_eq!(v["voice_id"].as_str().unwrap().len(), 18);
    let owner = v["owned_by"].as_str().unwrap();
    assert!(owner != "kling" && owner.parse::<u64>().is_ok(), "{owner}");
    let trial = v["trial_url"].as_str().unwrap();
    assert!(trial.starts_with(&app.base), "{trial}");
    let (status, ct, bytes) = app.fetch(trial).await;
    assert_eq!((status, ct.as_str()), (200, "audio/mpeg"));
    assert!(bytes.len() > 1000);
}

#[tokio::test]
async fn voice_name_rules_are_checked_at_their_boundaries() {
    let app = spawn_app().await;
    let with = |name: Value| json!({"voice_name": name, "voice_url": "https://x.test/a.mp3"});
    app.post(CV, with(json!("a".repeat(20)))).await.ok();
    app.post(CV, with(json!("声".repeat(20)))).await.ok();
    let m = app
        .post(CV, with(json!("a".repeat(21))))
        .await
        .err(400, 1201)
        .to_string();
    assert_eq!(m, "voice_name must be at most 20 characters, got 21");
    assert_eq!(
        app.post(CV, json!({"voice_url": "https://x.test/a.mp3"}))
            .await
            .err(400, 1201),
        "voice_name is required"
    );
    assert_eq!(
        app.post(CV, with(json!("   "))).await.err(400, 1201),
        "voice_name must not be blank"
    );
    assert_eq!(
        app.post(CV, with(json!(5))).await.err(400, 1201),
        "voice_name must be a string, got a number"
    );
}

#[tokio::test]
async fn exactly_one_voice_source_is_required() {
    let app = spawn_app().await;
    let both = json!({"voice_name": "a", "voice_url": "https://x.test/a.mp3", "video_id": "123"});
    assert!(
        app.post(CV, both)
            .await
            .err(400, 1201)
            .contains("voice_url and video_id")
    );
    let neither = json!({"voice_name": "a", "voice_url": "", "video_id": ""});
    assert!(
        app.post(CV, neither)
            .await
            .err(400, 1201)
            .contains("got neither")
    );
    app.post(
        CV,
        json!({"voice_name": "a", "voice_url": "", "video_id": "123"}),
    )
    .await
    .ok();
}

#[tokio::test]
async fn voice_url_must_be_an_http_url_to_an_accepted_file_type() {
    let app = spawn_app().await;
    for ok in [
        "https://x.test/a.mp3",
        "https://x.test/a.wav",
        "https://x.test/v.mp4",
        "https://x.test/v.MOV?x=1",
    ] {
        app.post(CV, json!({"voice_name": "a", "voice_url": ok}))
            .await
            .ok();
    }
    for bad in [
        "https://x.test/a.ogg",
        "https://x.test/a.m4a",
        "ftp://x.test/a.mp3",
        "a.mp3",
    ] {
        app.post(CV, json!({"voice_name": "a", "voice_url": bad}))
            .await
            .err(400, 1201);
    }
    let cb = json!({"voice_name": "a", "voice_url": "https://x.test/a.mp3", "callback_url": "not a url"});
    assert!(
        app.post(CV, cb)
            .await
            .err(400, 1201)
            .starts_with("callback_url must be an http")
    );
}

#[tokio::test]
async fn a_duplicate_external_task_id_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    let body =
        json!({"voice_name": "a", "voice_url": "https://x.test/a.mp3", "external_task_id": "dup"});
    app.post(CV, body.clone()).await.ok();
    assert_eq!(
        app.post(CV, body).await.err(400, 1201),
        "External_task_id dup already exists"
    );
    // Unique per account across kinds.
    let t2a = json!({"prompt": "rain", "duration": 5, "external_task_id": "dup"});
    app.post("/v1/audio/text-to-audio", t2a)
        .await
        .err(400, 1201);
    assert_eq!(app.get(CV).await.ok().as_array().unwrap().len(), 1);
    assert_eq!(app.state.engine.task_count(), 1);
}

#[tokio::test]
async fn a_task_is_found_by_task_id_or_external_id_and_unknown_ids_are_1201() {
    let app = spawn_app().await;
    let body = json!({"voice_name": "a", "voice_url": "https://x.test/a.mp3", "external_task_id": "ext-7"});
    let id = app.post(CV, body).await.ok()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_id = app.get(&format!("{CV}/{id}")).await;
    let by_ext = app.get(&format!("{CV}/ext-7")).await;
    let by_query = app.get(&format!("{CV}?external_task_id=ext-7")).await;
    assert_eq!(by_id.ok(), by_ext.ok());
    assert_eq!(by_id.ok(), by_query.ok());
    assert_eq!(
        app.get(&format!("{CV}/999999999999999999"))
            .await
            .err(400, 1201),
        "Task not found by id/external id: 999999999999999999"
    );
    assert_eq!(
        app.get(&format!("{CV}/nope")).await.err(400, 1201),
        "Task not found by id/external id: nope"
    );
    assert_eq!(
        app.get(&format!("{CV}?external_task_id=nope"))
            .await
            .err(400, 1201),
        "Task not found by id/external id: nope"
    );
    // A task of another kind is not found on this endpoint.
    let t2a = app
        .create_t2a(json!({"prompt": "rain", "duration": 5}))
        .await;
    app.get(&format!("{CV}/{t2a}")).await.err(400, 1201);
}

async fn finished_voice_id(app: &TestApp, ak: &str, sk: &str) -> (String, String) {
    let task = app.create_voice(ak, sk, "v").await;
    app.advance(FINISH);
    let d = app.get_as(ak, sk, &format!("{CV}/{task}")).await;
    let voice = d.ok()["task_result"]["voices"][0]["voice_id"]
        .as_str()
        .unwrap()
        .to_string();
    (task, voice)
}

#[tokio::test]
async fn deleting_an_own_custom_voice_removes_it() {
    let app = spawn_app().await;
    let (task, voice) = finished_voice_id(&app, AK, SK).await;
    let usable = |ak| {
        let idx = app.state.accounts.get(ak).unwrap().idx;
        custom_voice::usable_voice(&app.state.kind_ctx(), idx, &voice)
    };
    assert_eq!(usable(AK), Some(task.parse().unwrap()));
    assert_eq!(usable(AK2), None, "another account cannot use it");
    let a = app
        .post("/v1/general/delete-voices", json!({"voice_id": voice}))
        .await;
    assert_eq!(a.ok(), &json!({"task_id": task, "task_status": "succeed"}));
    assert_eq!(app.get(CV).await.ok(), &json!([]));
    app.get(&format!("{CV}/{task}")).await.err(400, 1201);
    let again = app
        .post("/v1/general/delete-voices", json!({"voice_id": voice}))
        .await;
    assert_eq!(again.err(400, 1201), "Voice id not found");
    assert_eq!(usable(AK), None, "a deleted voice is unusable from then on");
}

#[tokio::test]
async fn presets_other_accounts_voices_and_unfinished_voices_cannot_be_deleted() {
    let app = spawn_app().await;
    let (_, voice) = finished_voice_id(&app, AK, SK).await;
    let del = |ak: &'static str, sk: &'static str, v: String| {
        let app = &app;
        async move {
            app.post_as(ak, sk, "/v1/general/delete-voices", json!({"voice_id": v}))
                .await
        }
    };
    assert_eq!(
        del(AK2, SK2, voice.clone()).await.err(400, 1201),
        "Voice id not found"
    );
    let preset = app.first_preset_voice().await;
    assert!(
        del(AK, SK, preset)
            .await
            .err(400, 1201)
            .contains("only custom voices can be deleted")
    );
    assert!(
        del(AK, SK, "oversea_male1".into())
            .await
            .err(400, 1201)
            .contains("only custom voices")
    );
    assert_eq!(
        del(AK, SK, "12345".into()).await.err(400, 1201),
        "Voice id not found"
    );
    assert_eq!(
        app.post("/v1/general/delete-voices", json!({}))
            .await
            .err(400, 1201),
        "voice_id is required"
    );
    // A voice whose task has not finished does not exist yet. Its id is planned at creation as
    // the id after the task's (checked below once it has finished).
    let pending = app.create_voice(AK, SK, "p").await;
    let pending_voice = (pending.parse::<u64>().unwrap() + 1).to_string();
    assert_eq!(
        del(AK, SK, pending_voice.clone()).await.err(400, 1201),
        "Voice id not found"
    );
    app.advance(FINISH);
    let d = app.get(&format!("{CV}/{pending}")).await;
    assert_eq!(
        d.ok()["task_result"]["voices"][0]["voice_id"],
        pending_voice.as_str()
    );
    assert_eq!(app.get(CV).await.ok().as_array().unwrap().len(), 2);
    // The owner can still delete theirs after all of that.
    del(AK, SK, voice).await.ok();
}

#[tokio::test]
async fn a_sample_served_by_the_mock_must_last_5_to_30_seconds() {
    let app = spawn_app().await;
    let short = app
        .create_t2a(json!({"prompt": "blip", "duration": 3}))
        .await;
    let ok = app
        .create_t2a(json!({"prompt": "hum", "duration": 6}))
        .await;
    app.advance(FINISH);
    let url_of = |id: String| {
        let app = &app;
        async move {
            let d = app.get(&format!("/v1/audio/text-to-audio/{id}")).await;
            d.ok()["task_result"]["audios"][0]["url_wav"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let short_url = url_of(short).await;
    let ok_url = url_of(ok).await;
    let bad = app
        .post(CV, json!({"voice_name": "s", "voice_url": short_url}))
        .await
        .ok()["task_id"]
        .clone();
    let good = app
        .post(CV, json!({"voice_name": "g", "voice_url": ok_url}))
        .await
        .ok()["task_id"]
        .clone();
    let unknown = format!(
        "{}/files/kling_00000000-0000-4000-8000-000000000000.mp3",
        app.base
    );
    let missing = app
        .post(CV, json!({"voice_name": "m", "voice_url": unknown}))
        .await
        .ok()["task_id"]
        .clone();
    app.advance(FINISH);
    let bad = app.get(&format!("{CV}/{}", bad.as_str().unwrap())).await;
    assert_eq!(bad.ok()["task_status"], "failed");
    assert_eq!(
        bad.ok()["task_status_msg"],
        "The voice duration must be between 5 and 30 seconds, got 3s"
    );
    assert_eq!(bad.ok()["task_result"], json!({}));
    assert_eq!(bad.ok()["final_unit_deduction"], "0");
    let good = app.get(&format!("{CV}/{}", good.as_str().unwrap())).await;
    assert_eq!(good.ok()["task_status"], "succeed");
    let missing = app
        .get(&format!("{CV}/{}", missing.as_str().unwrap()))
        .await;
    assert_eq!(missing.ok()["task_status"], "failed");
    assert!(
        missing.ok()["task_status_msg"]
            .as_str()
            .unwrap()
            .contains("HTTP 404")
    );
}

#[tokio::test]
async fn a_video_source_must_be_a_known_qualifying_video_of_the_caller() {
    let app = spawn_app().await;
    let account = app.state.accounts.get(AK).unwrap();
    let now = app.now_ms();
    let add = |id: u64, src: VideoSource, ms: u64, acc: u32| {
        app.state.media.add_item(
            id,
            MediaItem {
                account: acc,
                origin: Origin::Video(src),
                duration_ms: ms,
                created_at: now,
            },
        )
    };
    add(900000000000000001, VideoSource::Avatar, 12_000, account.idx);
    add(900000000000000002, VideoSource::Other, 12_000, account.idx);
    add(
        900000000000000003,
        VideoSource::LipSync,
        45_000,
        account.idx,
    );
    add(
        900000000000000004,
        VideoSource::V26WithSound,
        8_000,
        account.idx + 1,
    );
    let create = |video: &'static str| {
        let app = &app;
        async move {
            let d = app
                .post(CV, json!({"voice_name": "v", "video_id": video}))
                .await;
            d.ok()["task_id"].as_str().unwrap().to_string()
        }
    };
    let ids = [
        create("900000000000000001").await,
        create("900000000000000002").await,
        create("900000000000000003").await,
        create("900000000000000004").await,
        create("123").await,
    ];
    app.advance(FINISH);
    let outcome = |id: &String| {
        let app = &app;
        let id = id.clone();
        async move {
            let d = app.get(&format!("{CV}/{id}")).await;
            let d = d.ok();
            (
                d["task_status"].as_str().unwrap().to_string(),
                d["task_status_msg"].as_str().unwrap().to_string(),
            )
        }
    };
    assert_eq!(outcome(&ids[0]).await.0, "succeed");
    let (s, m) = outcome(&ids[1]).await;
    assert_eq!(s, "failed");
    assert!(m.contains("cannot be used for a custom voice"), "{m}");
    let (s, m) = outcome(&ids[2]).await;
    assert_eq!(
        (s.as_str(), m.as_str()),
        (
            "failed",
            "The voice duration must be between 5 and 30 seconds, got 45s"
        )
    );
    let (s, m) = outcome(&ids[3]).await;
    assert_eq!(
        (s.as_str(), m.as_str()),
        ("failed", "Video not found by id: 900000000000000004"),
        "another account's video"
    );
    assert_eq!(outcome(&ids[4]).await.1, "Video not found by id: 123");
}

#[tokio::test]
async fn presets_list_official_voices_in_the_documented_shape() {
    let app = spawn_app().await;
    let a = app.get("/v1/general/presets-voices").await;
    let items = a.ok().as_array().unwrap();
    assert_eq!(items.len(), 30, "default pageSize 30");
    for it in items {
        let keys: std::collections::BTreeSet<_> =
            it.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "created_at",
                "task_id",
                "task_result",
                "task_status",
                "task_status_msg",
                "updated_at"
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(it["task_status"], "succeed");
        let v = &it["task_result"]["voices"][0];
        assert_eq!(v["owned_by"], "kling");
        assert!(v["voice_name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(v["trial_url"].as_str().unwrap().starts_with(&app.base));
    }
    let all = app.get("/v1/general/presets-voices?pageSize=1000").await;
    assert_eq!(all.ok().as_array().unwrap().len(), 62);
    let page3 = app
        .get("/v1/general/presets-voices?pageNum=3&pageSize=30")
        .await;
    assert_eq!(page3.ok().as_array().unwrap().len(), 2);
    assert_eq!(page3.ok()[0], all.ok()[60]);
    app.get("/v1/general/presets-voices?pageSize=1001")
        .await
        .err(400, 1201);
    app.get("/v1/general/presets-voices?pageNum=0")
        .await
        .err(400, 1201);
    let trial = all.ok()[0]["task_result"]["voices"][0]["trial_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.fetch(&trial).await.0, 200);
}

#[tokio::test]
async fn custom_voice_lists_accept_page_sizes_up_to_1000() {
    let app = spawn_app().await;
    app.post(CV, sample()).await.ok();
    assert_eq!(
        app.get(&format!("{CV}?pageSize=1000"))
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let m = app
        .get(&format!("{CV}?pageSize=1001"))
        .await
        .err(400, 1201)
        .to_string();
    assert_eq!(
        m,
        "pageSize must be an integer between 1 and 1000, got 1001"
    );
}
