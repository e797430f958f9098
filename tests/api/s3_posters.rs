//! Posters in S3-compatible storage (`IMAGE_STORE=s3://bucket/prefix`), against a real
//! S3-speaking server on loopback: `TICKITECKING_TEST_S3_ENDPOINT`, started by
//! `scripts/test` (moto in server mode), which makes this test fail rather than skip when
//! it is missing.

use tickitecking::config::ImageStore;

use crate::helpers::TestApp;
use crate::shared_state::on_sale;

fn s3_endpoint() -> Option<String> {
    match std::env::var("TICKITECKING_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ if std::env::var_os("TEST_RUN_DIR").is_some() => {
            panic!(
                "scripts/test runs the S3 test: TICKITECKING_TEST_S3_ENDPOINT must come from scripts/test.d/25-s3.sh"
            )
        }
        _ => {
            eprintln!("NOTE: S3 test not run: set TICKITECKING_TEST_S3_ENDPOINT or use scripts/test");
            None
        }
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR a poster kept in a bucket";

#[tokio::test]
async fn posters_uploaded_go_to_the_s3_bucket_and_are_served_back_from_it() {
    let Some(endpoint) = s3_endpoint() else { return };
    let bucket = format!("posters-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "creating the bucket: {}", created.status());
    let options = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
        ("aws_region", "us-east-1"),
    ];
    let store = ImageStore::S3 {
        bucket: bucket.clone(),
        prefix: "site/posters".into(),
        options: options.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    };
    let app = TestApp::spawn_with(move |config| config.image_store = store).await;
    let concert = on_sale(&app, "Live").await;
    let promoter = app.login("promoter", crate::helpers::PASSWORD).await.access;

    let boundary = "s3posterboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"concertId\"\r\n\r\n{concert}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend(PNG);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let uploaded = app
        .client
        .post(app.url("/api/v1/images/upload"))
        .bearer_auth(&promoter)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let uploaded = TestApp::reply(uploaded).await;
    uploaded.assert_status(201);
    let path = uploaded.data()["imagePath"].as_str().unwrap().to_owned();

    let served = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    // It is in the bucket, under the prefix, and not in the local data dir.
    let listing =
        reqwest::get(format!("{endpoint}/{bucket}?list-type=2")).await.unwrap().text().await.unwrap();
    let key = path.rsplit('/').next().unwrap();
    assert!(listing.contains(&format!("<Key>site/posters/{key}</Key>")), "bucket holds: {listing}");
    assert!(!app.dir.path().join("images").join(key).exists());
}
