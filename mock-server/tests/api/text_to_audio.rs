use crate::helpers::*;
use serde_json::json;

const T2A: &str = "/v1/audio/text-to-audio";

#[tokio::test]
async fn creating_answers_a_submitted_task_with_task_info() {
    let app = spawn_app().await;
    let a = app.post(T2A, json!({"prompt": "Fireworks sound during Chinese New Year celebration", "duration": 3, "external_task_id": "", "callback_url": ""})).await;
    let d = a.ok();
    assert_eq!(d["task_status"], "submitted");
    assert_eq!(d["task_info"], json!({}));
    let keys: Vec<_> = d.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys.len(),
        5,
        "task_id, task_status, task_info, created_at, updated_at: {keys:?}"
    );
}

#[tokio::test]
async fn a_finished_task_has_mp3_and_wav_with_their_durations() {
    let app = spawn_app().await;
    let id = app
        .create_t2a(json!({"prompt": "rain on a tin roof", "duration": 5.5}))
        .await;
    app.advance(FINISH);
    let a = app.get(&format!("{T2A}/{id}")).await;
    let d = a.ok();
    assert_eq!(d["task_status"], "succeed");
    assert_eq!(d["final_unit_deduction"], "0.05");
    let audio = &d["task_result"]["audios"][0];
    assert_eq!(audio["id"].as_str().unwrap().len(), 18);
    assert_eq!(audio["duration_wav"], "5.5");
    let mp3: f64 = audio["duration_mp3"].as_str().unwrap().parse().unwrap();
    assert!(
        mp3 > 5.5 && mp3 < 5.7,
        "mp3 holds whole frames and the encoder delay: {mp3}"
    );
    assert!(audio["url_mp3"].as_str().unwrap().contains(".mp3?"));
    assert!(audio["url_wav"].as_str().unwrap().contains(".wav?"));
}

#[tokio::test]
async fn prompt_and_duration_rules_are_checked_at_their_boundaries() {
    let app = spawn_app().await;
    for d in [json!(3), json!(3.0), json!(3.1), json!(9.9), json!(10)] {
        app.post(T2A, json!({"prompt": "p", "duration": d}))
            .await
            .ok();
    }
    for d in [json!(2.9), json!(10.1), json!(0), json!(-3)] {
        let m = app
            .post(T2A, json!({"prompt": "p", "duration": d}))
            .await
            .err(400, 1201)
            .to_string();
        assert!(
            m.starts_with("duration must be between 3.0 and 10.0 seconds"),
            "{m}"
        );
    }
    let m = app
        .post(T2A, json!({"prompt": "p", "duration": 3.25}))
        .await
        .err(400, 1201)
        .to_string();
    assert_eq!(m, "duration must have at most one decimal place, got 3.25");
    assert_eq!(
        app.post(T2A, json!({"prompt": "p", "duration": "5"}))
            .await
            .err(400, 1201),
        "duration must be a number, got a string"
    );
    assert_eq!(
        app.post(T2A, json!({"prompt": "p"})).await.err(400, 1201),
        "duration is required"
    );
    app.post(T2A, json!({"prompt": "字".repeat(200), "duration": 5}))
        .await
        .ok();
    let m = app
        .post(T2A, json!({"prompt": "a".repeat(201), "duration": 5}))
        .await
        .err(400, 1201)
        .to_string();
    assert_eq!(m, "prompt must be at most 200 characters, got 201");
    assert_eq!(
        app.post(T2A, json!({"duration": 5})).await.err(400, 1201),
        "prompt is required"
    );
    assert_eq!(
        app.post(T2A, json!({"prompt": ["x"], "duration": 5}))
            .await
            .err(400, 1201),
        "prompt must be a string, got an array"
    );
    assert_eq!(
        app.post(
            T2A,
            json!({"prompt": "p", "duration": 5, "external_task_id": 7})
        )
        .await
        .err(400, 1201),
        "external_task_id must be a string, got a number"
    );
    assert_eq!(app.state.engine.task_count(), 6);
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = spawn_app().await;
    app.post(
        T2A,
        json!({"prompt": "p", "duration": 5, "model_name": "whatever", "extra": {"a": 1}}),
    )
    .await
    .ok();
}
