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
