//! The OpenAPI description lists exactly the paths and methods the router serves.

use std::collections::BTreeSet;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    let answer = server.get("/v1/openapi.json").await;
    let doc = answer.expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["title"], "NyroDB");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|&(method, template, ..)| (method.to_string(), template.to_string()))
        .collect();
    assert_eq!(
        documented, served,
        "the OpenAPI paths differ from the router's"
    );

    // The error body and the main answers are described as schemas.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "ErrorBody",
        "InsertAnswer",
        "BulkAnswer",
        "ReplaceAnswer",
        "PageAnswer",
        "QueryBody",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    server.stop().await;
}

/// The list the OpenAPI test compares against is the router's: each entry is served (not
/// 404 and not 405), and each path's other methods are 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_list_is_the_routers() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    crate::routes::seed(&server).await;
    let templates: BTreeSet<&str> = ROUTES.iter().map(|r| r.1).collect();
    for template in templates {
        let path = ROUTES
            .iter()
            .find(|r| r.1 == template)
            .map(|r| r.2)
            .unwrap();
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if ROUTES.iter().any(|r| r.0 == method && r.1 == template) {
                continue; // served: checked with their bodies in routes::every_route_succeeds
            }
            let answer = server.raw(method, path, Some(b"{}".to_vec())).await;
            answer.expect_error(405, "bad_request");
        }
    }
    server.stop().await;
}
