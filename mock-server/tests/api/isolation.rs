use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_second_account_never_sees_the_first_accounts_tasks() {
    let app = spawn_app().await;
    let body = json!({"prompt": "secret", "duration": 3, "external_task_id": "shared-name"});
    let id = app.post("/v1/audio/text-to-audio", body.clone()).await.ok()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let voice_task = app.create_voice(AK, SK, "mine").await;
    app.advance(FINISH);
    for path in [
        format!("/v1/audio/text-to-audio/{id}"),
        "/v1/audio/text-to-audio/shared-name".to_string(),
        "/v1/audio/text-to-audio?external_task_id=shared-name".to_string(),
        format!("/v1/general/custom-voices/{voice_task}"),
    ] {
        app.get_as(AK2, SK2, &path).await.err(400, 1201);
        app.get_as(AK, SK, &path).await.ok();
    }
    assert_eq!(
        app.get_as(AK2, SK2, "/v1/audio/text-to-audio").await.ok(),
        &json!([])
    );
    assert_eq!(
        app.get_as(AK2, SK2, "/v1/general/custom-voices").await.ok(),
        &json!([])
    );
    // External ids are unique per account, not globally.
    let other = app.post_as(AK2, SK2, "/v1/audio/text-to-audio", body).await;
    let other_id = other.ok()["task_id"].as_str().unwrap().to_string();
    let mine = app
        .get_as(AK, SK, "/v1/audio/text-to-audio/shared-name")
        .await;
    let theirs = app
        .get_as(AK2, SK2, "/v1/audio/text-to-audio/shared-name")
        .await;
    assert_eq!(mine.ok()["task_id"].as_str().unwrap(), id);
    assert_eq!(theirs.ok()["task_id"].as_str().unwrap(), other_id);
    assert_eq!(
        app.get_as(AK, SK, "/v1/audio/text-to-audio")
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn custom_voices_belong_to_their_creator() {
    let app = spawn_app().await;
    app.create_voice(AK, SK, "one").await;
    app.create_voice(AK2, SK2, "two").await;
    app.advance(FINISH);
    let a = app.get_as(AK, SK, "/v1/general/custom-voices").await;
    let b = app.get_as(AK2, SK2, "/v1/general/custom-voices").await;
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t["task_result"]["voices"][0]["voice_name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names(a.ok()), ["one"]);
    assert_eq!(names(b.ok()), ["two"]);
    let owner_a = a.ok()[0]["task_result"]["voices"][0]["owned_by"].clone();
    let owner_b = b.ok()[0]["task_result"]["voices"][0]["owned_by"].clone();
    assert_ne!(owner_a, owner_b);
}

/// Media URLs are bearer capabilities, like the live CDN's: whoever holds one downloads the file,
/// so their token must not be derivable. Not even by a tenant who knows the seed (it sits in the
/// team's config file when CI uses `--seed` for reproducible answers) and can therefore replay
/// the mock's seeded random stream.
#[tokio::test]
async fn a_tenant_who_knows_the_seed_cannot_derive_another_tenants_media_urls() {
    let app = spawn_app().await;
    let mut theirs = vec![app.tts_url("a private announcement").await];
    let t2a = app
        .create_t2a(json!({"prompt": "private rain", "duration": 3}))
        .await;
    let voice = app.create_voice(AK, SK, "private").await;
    app.advance(FINISH);
    let audio = app.get(&format!("/v1/audio/text-to-audio/{t2a}")).await;
    let audio = &audio.ok()["task_result"]["audios"][0];
    theirs.push(audio["url_mp3"].as_str().unwrap().to_string());
    theirs.push(audio["url_wav"].as_str().unwrap().to_string());
    let voice = app.get(&format!("/v1/general/custom-voices/{voice}")).await;
    theirs.push(
        voice.ok()["task_result"]["voices"][0]["trial_url"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    for url in &theirs {
        assert_eq!(app.fetch(url).await.0, 200, "{url}");
    }
    // The second tenant knows the seed (config(): 42) and its own secret key, and replays the
    // seeded stream every way it can: raw draws (what tokens were before they were keyed), and
    // keyed by the seed alone or by the seed and its own key.
    use kling_mock::ids::Entropy;
    const DRAWS: usize = 100;
    let raw = Entropy::new(42);
    let seed_only = Entropy::new(42);
    let own_key = Entropy::keyed(42, [SK2]);
    let mut guesses = Vec::new();
    for _ in 0..DRAWS {
        guesses.push(uuid::Builder::from_random_bytes(raw.bytes16()).into_uuid());
        guesses.push(seed_only.uuid());
        guesses.push(own_key.uuid());
    }
    // The replay is faithful: with every account's key (the operator's knowledge), the stream
    // holds the tenant's own request id.
    let mine = app.get_as(AK2, SK2, "/v1/audio/text-to-audio").await;
    let my_request_id = mine.body["request_id"].as_str().unwrap().to_string();
    let operator = Entropy::keyed(42, [SK, SK2]);
    assert!(
        (0..DRAWS).any(|_| operator.uuid().to_string() == my_request_id),
        "the replay does not model the server's stream: the test would prove nothing"
    );
    // The tenant's guesses match neither its own request id (which would place it in the stream
    // and count the draws the other tenant caused) nor any file.
    assert!(
        !guesses.iter().any(|g| g.to_string() == my_request_id),
        "the tenant finds its request id {my_request_id} in the stream it can replay"
    );
    for uuid in &guesses {
        for ext in ["mp3", "wav"] {
            let url = app.url(&format!("/files/kling_{uuid}.{ext}"));
            let (status, _, _) = app.fetch(&url).await;
            assert_eq!(
                status, 404,
                "{url} was derived from the seed, yet it is a file"
            );
        }
    }
}

/// With `--seed` and `--state-file`, a restart must not start the seeded stream over: it would
/// draw the restored files' tokens again, so another tenant's new file would take over an old URL
/// (the old owner then downloads the other tenant's audio, which is handed that very URL).
#[tokio::test]
async fn after_a_restart_with_the_same_seed_no_tenant_is_handed_an_older_url() {
    let dir = std::env::temp_dir().join(format!("kling-mock-isolation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("restart.json");
    let _ = std::fs::remove_file(&path);
    let at_ms = 1_790_000_000_000;
    // Both starts at the same frozen time: the same seed, state and time, the hardest case.
    let start = || async {
        let cfg = kling_mock::Config {
            state_file: Some(path.clone()),
            // URLs that outlive the port of one start.
            public_url: Some("http://mock.test".into()),
            ..config()
        };
        let server = kling_mock::Server::bind_with_clock(cfg, kling_mock::Clock::frozen(at_ms))
            .await
            .expect("bind and load");
        let app = TestApp {
            base: server.base_url(),
            state: server.state().clone(),
            client: reqwest::Client::new(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        (app, stop, run)
    };
    let speak = |app: TestApp, ak: &'static str, sk: &'static str| async move {
        let body = json!({"text": "a private message", "voice_id": "oversea_male1", "voice_language": "en"});
        let a = app.post_as(ak, sk, "/v1/audio/tts", body).await;
        a.ok()["task_result"]["audios"][0]["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (app, stop, run) = start().await;
    let mut theirs = Vec::new();
    for _ in 0..5 {
        let url = speak(app.clone(), AK, SK).await;
        let bytes = app
            .fetch(&url.replace("http://mock.test", &app.base))
            .await
            .2;
        theirs.push((url, bytes));
    }
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    let (app, _stop, _run) = start().await;
    for _ in 0..5 {
        let mine = speak(app.clone(), AK2, SK2).await;
        assert!(
            theirs.iter().all(|(url, _)| *url != mine),
            "the second tenant was handed the first tenant's URL {mine}"
        );
    }
    for (url, bytes) in &theirs {
        let now = app
            .fetch(&url.replace("http://mock.test", &app.base))
            .await
            .2;
        assert_eq!(&now, bytes, "{url} still serves its own audio");
    }
    let _ = std::fs::remove_file(&path);
}
