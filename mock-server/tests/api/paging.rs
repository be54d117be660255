use crate::helpers::*;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

const T2A: &str = "/v1/audio/text-to-audio";

async fn ids(app: &TestApp, q: &str) -> Vec<String> {
    let a = app.get(&format!("{T2A}?{q}")).await;
    a.ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_hold_every_task_once_newest_first() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_t2a(json!({"prompt": format!("p{i}"), "duration": 3}))
                .await,
        );
        app.advance(Duration::from_millis(10));
    }
    created.reverse();
    let p1 = ids(&app, "pageNum=1&pageSize=3").await;
    let p2 = ids(&app, "pageNum=2&pageSize=3").await;
    let p3 = ids(&app, "pageNum=3&pageSize=3").await;
    let p4 = ids(&app, "pageNum=4&pageSize=3").await;
    assert_eq!((p1.len(), p2.len(), p3.len(), p4.len()), (3, 3, 1, 0));
    let all: Vec<String> = [p1, p2, p3].concat();
    assert_eq!(all, created, "newest first, each exactly once");
    // Pages do not move when statuses change.
    app.advance(FINISH);
    assert_eq!(ids(&app, "pageNum=2&pageSize=3").await, created[3..6]);
    let list = app.get(&format!("{T2A}?pageSize=7")).await;
    let single = app.get(&format!("{T2A}/{}", created[0])).await;
    assert_eq!(
        list.ok()[0],
        *single.ok(),
        "list items are the single-query object"
    );
}

#[tokio::test]
async fn the_default_page_is_30_tasks() {
    let app = spawn_app().await;
    let mut set = HashSet::new();
    for _ in 0..31 {
        set.insert(app.create_t2a(json!({"prompt": "p", "duration": 3})).await);
    }
    assert_eq!(set.len(), 31, "ids are unique");
    assert_eq!(ids(&app, "").await.len(), 30);
    assert_eq!(ids(&app, "pageNum=2").await.len(), 1);
}

#[tokio::test]
async fn paging_parameters_are_checked_at_their_bounds() {
    let app = spawn_app().await;
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    assert_eq!(ids(&app, "pageNum=1&pageSize=1").await.len(), 1);
    assert_eq!(ids(&app, "pageNum=1000&pageSize=500").await.len(), 0);
    for (q, msg) in [
        (
            "pageNum=0",
            "pageNum must be an integer between 1 and 1000, got 0",
        ),
        (
            "pageNum=1001",
            "pageNum must be an integer between 1 and 1000, got 1001",
        ),
        (
            "pageSize=0",
            "pageSize must be an integer between 1 and 500, got 0",
        ),
        (
            "pageSize=501",
            "pageSize must be an integer between 1 and 500, got 501",
        ),
        (
            "pageSize=ten",
            "pageSize must be an integer between 1 and 500, got 'ten'",
        ),
        (
            "pageNum=1.5",
            "pageNum must be an integer between 1 and 1000, got '1.5'",
        ),
        (
            "pageNum=-1",
            "pageNum must be an integer between 1 and 1000, got -1",
        ),
    ] {
        assert_eq!(app.get(&format!("{T2A}?{q}")).await.err(400, 1201), msg);
    }
}
