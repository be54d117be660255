//! Elements (SOURCES.md: Elements): advanced elements as tasks, legacy ones made at once, the
//! preset catalogue, deletes, and the video kinds' `element_list` that must name usable ones.

use crate::helpers::*;
use serde_json::{Value, json};

const ADV: &str = "/v1/general/advanced-custom-elements";
const LEGACY: &str = "/v1/general/custom-elements";
const I2V: &str = "/v1/videos/image2video";

fn image_element(name: &str) -> Value {
    json!({
        "element_name": name,
        "element_description": "A knight in red armour",
        "reference_type": "image_refer",
        "element_image_list": {
            "frontal_image": "https://x.example/front.png",
            "refer_images": [{"image_url": "https://x.example/side.png"}],
        },
        "tag_list": [{"tag_id": "o_102"}],
    })
}

fn legacy_element(name: &str) -> Value {
    json!({
        "element_name": name,
        "element_description": "A paper boat",
        "element_frontal_image": "https://x.example/front.jpg",
        "element_refer_list": [{"image_url": "https://x.example/a.jpg"}, {"image_url": "https://x.example/b.jpg"}],
        "tag_list": [{"tag_id": "o_108"}],
    })
}

/// An image2video create naming `ids` in `element_list` (kling-v3 takes elements).
fn i2v_with(ids: &[Value]) -> Value {
    let list: Vec<Value> = ids.iter().map(|id| json!({"element_id": id})).collect();
    json!({"model_name": "kling-v3", "image": "https://x.example/a.jpg", "prompt": "p",
           "element_list": list})
}

/// Create an advanced element as `ak` and let its task finish: (task id, task object).
async fn finished_element(app: &TestApp, ak: &str, sk: &str, body: Value) -> (String, Value) {
    let a = app.post_as(ak, sk, ADV, body).await;
    let task = a.ok()["task_id"].as_str().unwrap().to_string();
    app.advance(FINISH);
    let q = app.get_as(ak, sk, &format!("{ADV}/{task}")).await;
    (task, q.ok().clone())
}

fn element(task: &Value) -> &Value {
    &task["task_result"]["elements"][0]
}

#[tokio::test]
async fn an_advanced_element_is_created_queried_listed_used_and_deleted() {
    let app = spawn_app().await;
    let mut body = image_element("Knight");
    body["external_task_id"] = json!("knight-1");
    let created = app.post(ADV, body).await;
    let task = created.ok()["task_id"].as_str().unwrap().to_string();
    assert_eq!(created.ok()["task_status"], "submitted");
    // Until its task succeeds the element does not exist.
    let early = app.get(&format!("{ADV}/{task}")).await.ok().clone();
    assert_eq!(early["task_result"], json!({}));
    app.advance(FINISH);
    let done = app.get(&format!("{ADV}/knight-1")).await.ok().clone();
    assert_eq!(done["task_id"], task.as_str());
    assert_eq!(done["task_status"], "succeed");
    assert_eq!(done["final_unit_deduction"], "0");
    let e = element(&done);
    let id = e["element_id"].as_u64().expect("a numeric element_id");
    assert_eq!(id.to_string().len(), 18);
    assert_eq!(e["element_name"], "Knight");
    assert_eq!(e["reference_type"], "image_refer");
    assert_eq!(
        e["element_image_list"],
        json!({"frontal_image": "https://x.example/front.png",
               "refer_images": [{"image_url": "https://x.example/side.png"}]})
    );
    assert_eq!(e["element_video_list"], json!({"refer_videos": []}));
    assert_eq!(
        e["tag_list"],
        json!([{"tag_id": "o_102", "tag_name": "Character"}])
    );
    assert_eq!(e["status"], "succeed");
    assert!(e["owned_by"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(e.get("element_voice_info").is_none());
    let list = app.get(&format!("{ADV}?pageSize=500")).await.ok().clone();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["task_id"], task.as_str());
    app.get(&format!("{ADV}?pageSize=501")).await.err(400, 1201);

    // Usable in a video create, by number or numeric string.
    app.post(I2V, i2v_with(&[json!(id)])).await.ok();
    app.post(I2V, i2v_with(&[json!(id.to_string())])).await.ok();

    let del = app
        .post(
            "/v1/general/delete-advanced-elements",
            json!({"element_id": id}),
        )
        .await;
    assert_eq!(
        del.ok(),
        &json!({"task_id": task, "task_status": "succeed"})
    );
    let after = app.get(&format!("{ADV}/{task}")).await.ok().clone();
    assert_eq!(element(&after)["status"], "deleted");
    assert_eq!(after["task_status"], "succeed", "the task itself stays");
    let refused = app.post(I2V, i2v_with(&[json!(id)])).await;
    assert_eq!(
        refused.err(400, 1201),
        format!("element_list[0].element_id: Element {id} has been deleted")
    );
    // Deleted once: both delete paths say so.
    for path in [
        "/v1/general/delete-elements",
        "/v1/general/delete-advanced-elements",
    ] {
        let again = app.post(path, json!({"element_id": id})).await;
        assert_eq!(
            again.err(400, 1201),
            format!("element_id: Element {id} has been deleted")
        );
    }
}

#[tokio::test]
async fn both_delete_paths_delete_and_an_unfinished_element_cannot_be_used_or_deleted() {
    let app = spawn_app().await;
    let (_, done) = finished_element(&app, AK, SK, image_element("A")).await;
    let id = element(&done)["element_id"].as_u64().unwrap();
    app.post("/v1/general/delete-elements", json!({"element_id": id}))
        .await
        .ok();
    let pending = app.post(ADV, image_element("B")).await;
    let task = pending.ok()["task_id"].as_str().unwrap().to_string();
    // Its id is only known from the planned result once it succeeds; the registry has it now.
    let id_b = {
        let entries = app.state.elements.entries();
        entries
            .iter()
            .find(|(_, e)| e.source == kling_mock::elements::Source::Task(task.parse().unwrap()))
            .map(|(id, _)| *id)
            .expect("registered at creation")
    };
    let early = app.post(I2V, i2v_with(&[json!(id_b)])).await;
    assert_eq!(
        early.err(400, 1201),
        format!("element_list[0].element_id: Element not found by id: {id_b}")
    );
    app.post("/v1/general/delete-elements", json!({"element_id": id_b}))
        .await
        .err(400, 1201);
    app.advance(FINISH);
    app.post(I2V, i2v_with(&[json!(id_b)])).await.ok();
}

#[tokio::test]
async fn elements_belong_to_their_creator() {
    let app = spawn_app().await;
    let (task, done) = finished_element(&app, AK, SK, image_element("Mine")).await;
    let id = element(&done)["element_id"].as_u64().unwrap();
    let other = app.post_as(AK2, SK2, I2V, i2v_with(&[json!(id)])).await;
    assert_eq!(
        other.err(400, 1201),
        format!("element_list[0].element_id: Element not found by id: {id}")
    );
    let del = app
        .post_as(
            AK2,
            SK2,
            "/v1/general/delete-elements",
            json!({"element_id": id}),
        )
        .await;
    assert_eq!(
        del.err(400, 1201),
        format!("element_id: Element not found by id: {id}")
    );
    app.get_as(AK2, SK2, &format!("{ADV}/{task}"))
        .await
        .err(400, 1201);
    assert_eq!(app.get_as(AK2, SK2, ADV).await.ok(), &json!([]));
    // The owner still has it, undeleted.
    app.post(I2V, i2v_with(&[json!(id)])).await.ok();
}

#[tokio::test]
async fn every_video_and_image_kind_that_reads_element_list_refuses_unknown_ids() {
    let app = spawn_app().await;
    let unknown = 812_345_678_901_234_567u64;
    let cases = [
        (I2V, i2v_with(&[json!(unknown)]), 0),
        (
            "/v1/videos/omni-video",
            json!({"prompt": "x", "aspect_ratio": "16:9",
                   "element_list": [{"element_id": elements_first_preset()}, {"element_id": unknown}]}),
            1,
        ),
        (
            "/v1/videos/motion-control",
            json!({"image_url": "https://x.example/a.jpg", "video_url": "https://x.example/m.mp4",
                   "character_orientation": "video", "mode": "std",
                   "element_list": [{"element_id": unknown}]}),
            0,
        ),
        (
            "/v1/images/generations",
            json!({"prompt": "x", "model_name": "kling-v3",
                   "element_list": [{"element_id": unknown}]}),
            0,
        ),
        (
            "/v1/images/omni-image",
            json!({"prompt": "x", "element_list": [{"element_id": elements_first_preset()}, {"element_id": unknown}]}),
            1,
        ),
    ];
    for (path, body, at) in cases {
        let a = app.post(path, body).await;
        assert_eq!(
            a.err(400, 1201),
            format!("element_list[{at}].element_id: Element not found by id: {unknown}"),
            "{path}"
        );
    }
    assert_eq!(app.state.engine.task_count(), 0, "nothing was created");
    // A preset passes everywhere.
    let preset = json!([{"element_id": elements_first_preset()}]);
    app.post(
        "/v1/images/generations",
        json!({"prompt": "x", "model_name": "kling-v3", "element_list": preset}),
    )
    .await
    .ok();
    app.post(
        "/v1/images/omni-image",
        json!({"prompt": "x", "element_list": preset}),
    )
    .await
    .ok();
}

fn elements_first_preset() -> u64 {
    kling_mock::kinds::elements::presets()[0].element_id
}

#[tokio::test]
async fn presets_are_listed_served_and_usable_by_every_account_but_never_deleted() {
    let app = spawn_app().await;
    let page = app
        .get("/v1/general/advanced-presets-elements?pageNum=1&pageSize=5")
        .await
        .ok()
        .clone();
    let items = page.as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["task_status"], "succeed");
    let e = element(&items[0]);
    assert_eq!(e["owned_by"], "kling");
    assert_eq!(e["status"], "succeed");
    let front = e["element_image_list"]["frontal_image"].as_str().unwrap();
    let (status, ct, bytes) = app.fetch(front).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    assert!(bytes.starts_with(b"\x89PNG"));
    let all = app
        .get("/v1/general/advanced-presets-elements?pageSize=500")
        .await
        .ok()
        .clone();
    assert_eq!(all.as_array().unwrap().len(), 12);
    app.get("/v1/general/advanced-presets-elements?pageSize=501")
        .await
        .err(400, 1201);
    app.get("/v1/general/advanced-presets-elements?pageSize=0")
        .await
        .err(400, 1201);
    let legacy = app.get("/v1/general/presets-elements").await.ok().clone();
    assert_eq!(legacy.as_array().unwrap().len(), 12);
    assert_eq!(legacy[0]["owned_by"], "kling");
    assert_eq!(legacy[0]["element_id"], element(&all[0])["element_id"]);
    assert_eq!(
        legacy[0]["tag_list"][0],
        json!({"id": "o_101", "name": "Hottest", "description": "Hottest"})
    );
    let id = e["element_id"].as_u64().unwrap();
    app.post_as(AK2, SK2, I2V, i2v_with(&[json!(id)]))
        .await
        .ok();
    let del = app
        .post("/v1/general/delete-elements", json!({"element_id": id}))
        .await;
    assert!(
        del.err(400, 1201).contains("is a preset element"),
        "{del:?}"
    );
    // A reset of everything keeps the presets' pictures.
    app.ctl_post("/__mock/reset", json!({})).await.ok();
    assert_eq!(app.fetch(front).await.0, 200);
}

#[tokio::test]
async fn a_legacy_element_is_made_at_once_listed_used_and_deleted() {
    let app = spawn_app().await;
    let made = app.post(LEGACY, legacy_element("Boat")).await.ok().clone();
    let id = made["element_id"].as_u64().expect("numeric element_id");
    assert_eq!(made["element_name"], "Boat");
    assert_eq!(made["element_frontal_image"], "https://x.example/front.jpg");
    assert_eq!(
        made["element_refer_list"],
        json!([{"image_url": "https://x.example/a.jpg"}, {"image_url": "https://x.example/b.jpg"}])
    );
    assert_eq!(
        made["tag_list"],
        json!([{"id": "o_108", "name": "Others", "description": "Others"}])
    );
    assert!(made["owned_by"].as_str().unwrap().parse::<u64>().is_ok());
    let second = app.post(LEGACY, legacy_element("Raft")).await.ok().clone();
    let list = app.get(LEGACY).await.ok().clone();
    assert_eq!(list, json!([second, made]), "newest first");
    assert_eq!(
        app.get(&format!("{LEGACY}?pageSize=1&pageNum=2"))
            .await
            .ok(),
        &json!([made])
    );
    assert_eq!(app.get_as(AK2, SK2, LEGACY).await.ok(), &json!([]));
    app.post(I2V, i2v_with(&[json!(id)])).await.ok();
    app.post_as(AK2, SK2, I2V, i2v_with(&[json!(id)]))
        .await
        .err(400, 1201);
    let del = app
        .post(
            "/v1/general/delete-elements",
            json!({"element_id": id.to_string()}),
        )
        .await;
    assert_eq!(
        del.ok(),
        &json!({"task_id": id.to_string(), "task_status": "succeed"})
    );
    assert_eq!(app.get(LEGACY).await.ok(), &json!([second]));
    let refused = app.post(I2V, i2v_with(&[json!(id)])).await;
    assert_eq!(
        refused.err(400, 1201),
        format!("element_list[0].element_id: Element {id} has been deleted")
    );
}

#[tokio::test]
async fn bad_element_requests_are_1201_naming_the_field_and_rule() {
    let app = spawn_app().await;
    let mut no_refer = image_element("A");
    no_refer["element_image_list"]["refer_images"] = json!([]);
    let mut video_without_list = image_element("A");
    video_without_list["reference_type"] = json!("video_refer");
    video_without_list
        .as_object_mut()
        .unwrap()
        .remove("element_image_list");
    let mut bad_voice = image_element("A");
    bad_voice["element_voice_id"] = json!("812345678901234567");
    let mut legacy_small = legacy_element("A");
    legacy_small["element_frontal_image"] = json!(png_b64(200, 200));
    let own_missing = format!(
        "{}/files/kling_00000000-0000-4000-8000-000000000000.png",
        app.base
    );
    let mut legacy_404 = legacy_element("A");
    legacy_404["element_refer_list"] = json!([{"image_url": own_missing}]);
    let cases = [
        (
            ADV,
            json!({"element_name": "A"}),
            "element_description is required".to_string(),
        ),
        (
            ADV,
            {
                let mut b = image_element("A");
                b["element_name"] = json!("x".repeat(21));
                b
            },
            "element_name must be at most 20 characters, got 21".into(),
        ),
        (
            ADV,
            no_refer,
            "element_image_list.refer_images must have 1 to 3 items, got 0".into(),
        ),
        (
            ADV,
            video_without_list,
            "element_video_list is required when reference_type is video_refer".into(),
        ),
        (
            ADV,
            bad_voice,
            "element_voice_id: Voice id not found: 812345678901234567".into(),
        ),
        (
            LEGACY,
            legacy_small,
            "element_frontal_image: Image pixel is invalid".into(),
        ),
        (
            LEGACY,
            legacy_404,
            format!(
                "element_refer_list[0].image_url: Failed to download the image file: HTTP 404 for {own_missing}"
            ),
        ),
        (
            LEGACY,
            json!({"element_name": "A", "element_description": "d", "element_frontal_image": "https://x/a.png"}),
            "element_refer_list must have 1 to 3 items, got 0".into(),
        ),
        (
            "/v1/general/delete-elements",
            json!({}),
            "element_id is required".into(),
        ),
        (
            "/v1/general/delete-advanced-elements",
            json!({"element_id": 5}),
            "element_id: Element not found by id: 5".into(),
        ),
    ];
    for (path, body, says) in cases {
        let a = app.post(path, body).await;
        assert_eq!(a.err(400, 1201), says, "{path}");
    }
    assert_eq!(app.state.engine.task_count(), 0);
    assert!(app.state.elements.entries().is_empty());
}

#[tokio::test]
async fn a_bound_voice_must_be_a_preset_or_a_usable_voice_of_the_callers() {
    let app = spawn_app().await;
    let preset = app.first_preset_voice().await;
    let mut body = image_element("Singer");
    body["element_voice_id"] = json!(preset);
    let (_, done) = finished_element(&app, AK, SK, body.clone()).await;
    let info = &element(&done)["element_voice_info"];
    assert_eq!(info["voice_id"], preset.as_str());
    assert_eq!(info["owned_by"], "kling");
    assert!(
        info["trial_url"]
            .as_str()
            .unwrap()
            .contains("/files/kling_")
    );

    let voice_task = app.create_voice(AK, SK, "my voice").await;
    let planned = app.state.custom_voices.entries()[0].0.to_string();
    // Not usable before its task succeeds.
    body["element_voice_id"] = json!(planned);
    let early = app.post(ADV, body.clone()).await;
    assert_eq!(
        early.err(400, 1201),
        format!("element_voice_id: Voice id not found: {planned}")
    );
    app.advance(FINISH);
    let voice = app
        .get(&format!("/v1/general/custom-voices/{voice_task}"))
        .await
        .ok()["task_result"]["voices"][0]
        .clone();
    let voice_id = voice["voice_id"].as_str().unwrap().to_string();
    assert_eq!(voice_id, planned);
    body["element_voice_id"] = json!(voice_id);
    let (_, done) = finished_element(&app, AK, SK, body.clone()).await;
    let info = &element(&done)["element_voice_info"];
    assert_eq!(info["voice_name"], "my voice");
    assert_eq!(info["owned_by"], voice["owned_by"]);
    assert_eq!(info["trial_url"], voice["trial_url"]);
    let foreign = app.post_as(AK2, SK2, ADV, body.clone()).await;
    assert_eq!(
        foreign.err(400, 1201),
        format!("element_voice_id: Voice id not found: {voice_id}")
    );
    app.post("/v1/general/delete-voices", json!({"voice_id": voice_id}))
        .await
        .ok();
    app.post(ADV, body).await.err(400, 1201);
}

#[tokio::test]
async fn a_reference_video_of_the_mocks_own_must_last_3_to_8_seconds() {
    let app = spawn_app().await;
    let mut urls = Vec::new();
    for secs in ["5", "10"] {
        let t2v = app
            .post(
                "/v1/videos/text2video",
                json!({"prompt": "dance", "model_name": "kling-v1-6", "duration": secs}),
            )
            .await;
        let id = t2v.ok()["task_id"].as_str().unwrap().to_string();
        app.advance(FINISH);
        let q = app.get(&format!("/v1/videos/text2video/{id}")).await;
        urls.push(
            q.ok()["task_result"]["videos"][0]["url"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let body = |url: &str| {
        json!({"element_name": "Dancer", "element_description": "d", "reference_type": "video_refer",
               "element_video_list": {"refer_videos": [{"video_url": url}]}})
    };
    let (_, ok) = finished_element(&app, AK, SK, body(&urls[0])).await;
    assert_eq!(ok["task_status"], "succeed");
    assert_eq!(
        element(&ok)["element_video_list"],
        json!({"refer_videos": [{"video_url": urls[0]}]})
    );
    assert_eq!(
        element(&ok)["element_image_list"],
        json!({"refer_images": []})
    );
    let (_, long) = finished_element(&app, AK, SK, body(&urls[1])).await;
    assert_eq!(long["task_status"], "failed");
    let msg = long["task_status_msg"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "element_video_list.refer_videos[0].video_url must be 3 to 8 s long, got 10"
        ),
        "{msg}"
    );
    assert_eq!(long["final_unit_deduction"], "0");
    // A failed element never exists.
    let id = app
        .state
        .elements
        .entries()
        .into_iter()
        .map(|(id, _)| id)
        .max()
        .unwrap();
    app.post(I2V, i2v_with(&[json!(id)])).await.err(400, 1201);
}

#[tokio::test]
async fn a_reset_of_an_account_forgets_its_elements() {
    let app = spawn_app().await;
    let made = app.post(LEGACY, legacy_element("Boat")).await.ok().clone();
    let theirs = app
        .post_as(AK2, SK2, LEGACY, legacy_element("Kept"))
        .await
        .ok()
        .clone();
    let counts = |state: &Value| -> Vec<Value> {
        state["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["elements"].clone())
            .collect()
    };
    let before = app.ctl_get("/__mock/state").await.ok().clone();
    assert_eq!(counts(&before), vec![json!(1), json!(1)]);
    app.ctl_post("/__mock/reset", json!({"account": AK}))
        .await
        .ok();
    let after = app.ctl_get("/__mock/state").await.ok().clone();
    assert_eq!(counts(&after), vec![json!(0), json!(1)]);
    assert_eq!(app.get(LEGACY).await.ok(), &json!([]));
    app.post(I2V, i2v_with(&[made["element_id"].clone()]))
        .await
        .err(400, 1201);
    assert_eq!(app.get_as(AK2, SK2, LEGACY).await.ok(), &json!([theirs]));
}

fn png_b64(w: u32, h: u32) -> String {
    use base64::Engine as _;
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    b.extend_from_slice(&13u32.to_be_bytes());
    b.extend_from_slice(b"IHDR");
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn a_base64_picture_becomes_a_file_of_the_mocks() {
    let app = spawn_app().await;
    let mut body = legacy_element("Inline");
    body["element_frontal_image"] = json!(png_b64(640, 480));
    let made = app.post(LEGACY, body).await.ok().clone();
    let url = made["element_frontal_image"].as_str().unwrap();
    let (status, ct, bytes) = app.fetch(url).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    let size = imagesize::blob_size(&bytes).unwrap();
    assert_eq!((size.width, size.height), (640, 480));
}

mod persistence {
    use super::*;
    use std::path::{Path, PathBuf};

    fn state_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kling-mock-elements-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    async fn serve(path: &Path, at_ms: i64) -> Stoppable {
        let cfg = kling_mock::Config {
            state_file: Some(path.to_path_buf()),
            ..config()
        };
        spawn_stoppable(cfg, at_ms).await
    }

    /// Elements live, deleted and legacy survive a graceful restart, even into a store written
    /// before the elements table existed (it is added when opened).
    #[tokio::test]
    async fn elements_survive_a_restart() {
        let path = state_path("elements.db");
        let t0 = 1_790_000_000_000;
        let (app, stop, run) = serve(&path, t0).await;
        let (task, done) = finished_element(&app, AK, SK, image_element("Kept")).await;
        let kept = element(&done)["element_id"].as_u64().unwrap();
        let (gone_task, done) = finished_element(&app, AK, SK, image_element("Gone")).await;
        let gone = element(&done)["element_id"].as_u64().unwrap();
        app.post("/v1/general/delete-elements", json!({"element_id": gone}))
            .await
            .ok();
        let legacy = app.post(LEGACY, legacy_element("Boat")).await.ok().clone();
        stop.send(()).unwrap();
        run.await.unwrap().unwrap();

        let at = t0 + 2 * FINISH.as_millis() as i64;
        let (app, stop, run) = serve(&path, at).await;
        app.post(I2V, i2v_with(&[json!(kept), legacy["element_id"].clone()]))
            .await
            .ok();
        app.post(I2V, i2v_with(&[json!(gone)])).await.err(400, 1201);
        let q = app.get(&format!("{ADV}/{gone_task}")).await.ok().clone();
        assert_eq!(element(&q)["status"], "deleted");
        assert_eq!(app.get(LEGACY).await.ok(), &json!([legacy]));
        app.post_as(AK2, SK2, I2V, i2v_with(&[json!(kept)]))
            .await
            .err(400, 1201);
        stop.send(()).unwrap();
        run.await.unwrap().unwrap();

        // A store of a build without elements: the table is created when it is opened.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE elements").unwrap();
        drop(conn);
        let (app, _stop, _run) = serve(&path, at).await;
        let q = app.get(&format!("{ADV}/{task}")).await.ok().clone();
        assert_eq!(element(&q)["status"], "succeed", "the task is kept");
        app.post(I2V, i2v_with(&[json!(kept)])).await.err(400, 1201);
        app.post(LEGACY, legacy_element("New")).await.ok();
    }
}

/// The engine's callbacks carry the element task as its single query shows it.
#[tokio::test]
async fn an_element_task_posts_its_status_changes_to_its_callback_url() {
    use axum::routing::post;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let hook = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(serde_json::from_str(&body).expect("JSON"));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await });
    let app = spawn_app().await;
    let mut body = image_element("Called");
    body["callback_url"] = json!(url);
    let task = app.post(ADV, body).await.ok()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("a callback in time")
            .expect("open")
    };
    assert_eq!(next().await["task_status"], "submitted");
    app.advance(FINISH);
    assert_eq!(next().await["task_status"], "processing");
    let last = next().await;
    assert_eq!(last["task_status"], "succeed");
    assert_eq!(
        last,
        *app.get(&format!("{ADV}/{task}")).await.ok(),
        "the single query's shape"
    );
    assert_eq!(element(&last)["element_name"], "Called");
}
