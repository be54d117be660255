use crate::helpers::*;
use serde_json::json;

const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn success_answers_have_the_kling_envelope() {
    let app = spawn_app().await;
    let a = app.get("/v1/audio/text-to-audio").await;
    assert_eq!(a.ok(), &json!([]));
    let keys: Vec<_> = a.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert_is_uuid(a.body["request_id"].as_str().unwrap());
}

#[tokio::test]
async fn request_ids_differ_between_requests() {
    let app = spawn_app().await;
    let a = app.get("/v1/audio/text-to-audio").await;
    let b = app.get("/v1/audio/text-to-audio").await;
    assert_ne!(a.body["request_id"], b.body["request_id"]);
}

#[tokio::test]
async fn an_unknown_path_is_404_1203_in_the_envelope() {
    let app = spawn_app().await;
    let a = app.get("/v1/audio/nothing-here").await;
    assert_eq!(
        a.err(404, 1203),
        "No such endpoint: GET /v1/audio/nothing-here"
    );
    app.get("/").await.err(404, 1203);
    app.get("/v1/audio/text-to-audio/1/extra")
        .await
        .err(404, 1203);
}

#[tokio::test]
async fn a_wrong_method_is_404_1202_in_the_envelope() {
    let app = spawn_app().await;
    let a = app
        .send(
            app.client
                .delete(app.url("/v1/audio/tts"))
                .bearer_auth(token(AK, SK)),
        )
        .await;
    assert_eq!(
        a.err(404, 1202),
        "Method DELETE is not supported on /v1/audio/tts"
    );
    app.get("/v1/audio/tts").await.err(404, 1202);
    app.send(app.client.put(app.url("/v1/audio/text-to-audio/123")))
        .await
        .err(404, 1202);
}

#[tokio::test]
async fn malformed_json_is_400_1200() {
    let app = spawn_app().await;
    let a = app
        .post_raw("/v1/audio/text-to-audio", JSON, "{\"prompt\": ")
        .await;
    assert!(
        a.err(400, 1200)
            .starts_with("Request body is not valid JSON"),
        "{a:?}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_object_or_empty_is_400_1200() {
    let app = spawn_app().await;
    for body in ["[1,2]", "\"text\"", "null", "", "   "] {
        app.post_raw("/v1/audio/tts", JSON, body)
            .await
            .err(400, 1200);
    }
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_is_400_1200() {
    let app = spawn_app().await;
    let body = r#"{"prompt":"rain","duration":5}"#;
    let a = app
        .post_raw("/v1/audio/text-to-audio", Some("text/plain"), body)
        .await;
    assert_eq!(
        a.err(400, 1200),
        "Content-Type must be application/json, got 'text/plain'"
    );
    let a = app.post_raw("/v1/audio/text-to-audio", None, body).await;
    assert_eq!(
        a.err(400, 1200),
        "Content-Type must be application/json, got none"
    );
    app.post_raw(
        "/v1/audio/text-to-audio",
        Some("application/json; charset=utf-8"),
        body,
    )
    .await
    .ok();
    assert_eq!(app.state.engine.task_count(), 1);
}

#[tokio::test]
async fn a_body_over_the_limit_is_400_1200_and_creates_nothing() {
    let app = spawn_with(kling_mock::Config {
        body_limit: 1024,
        ..config()
    })
    .await;
    let big = json!({"prompt": "x".repeat(2000), "duration": 5});
    let a = app.post("/v1/audio/text-to-audio", big).await;
    assert_eq!(
        a.err(400, 1200),
        "Request body is larger than the limit of 1024 bytes"
    );
    // Also when the client streams the body without announcing its length.
    let chunks = [
        b"{\"prompt\":\"".to_vec(),
        vec![b'x'; 4000],
        b"\",\"duration\":5}".to_vec(),
    ];
    let stream = tokio_stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let a = app
        .post_raw(
            "/v1/audio/text-to-audio",
            JSON,
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    assert_eq!(
        a.err(400, 1200),
        "Request body is larger than the limit of 1024 bytes"
    );
    assert_eq!(app.state.engine.task_count(), 0);
}

#[tokio::test]
async fn auth_is_checked_before_the_body() {
    let app = spawn_app().await;
    let a = app
        .send(
            app.client
                .post(app.url("/v1/audio/tts"))
                .header("content-type", "application/json")
                .body("{bad"),
        )
        .await;
    a.err(401, 1001);
}

#[tokio::test]
async fn a_path_id_that_is_not_utf8_is_400_1201_in_the_envelope() {
    let app = spawn_app().await;
    app.get("/v1/audio/text-to-audio/%FF%FE")
        .await
        .err(400, 1201);
    // No media file has such a name: an unknown file.
    app.send(app.client.get(app.url("/files/%FF.mp3")))
        .await
        .err(404, 1203);
}
