//! Holds, orders and the manual payment provider: a `PAYMENT` concert holds its seats until
//! paid; the hold ends, the fan gives up, or the promoter records the payment; a payment
//! after the hold is refunded when the seats are gone. On both backends.

use serde_json::{Value, json};

use crate::emails::{Mail, assert_carries_tickets};
use crate::helpers::TestApp;

/// A hall and a `PAYMENT` concert (plus `extra` fields) of two rows of five, R at 100.
async fn concert(app: &TestApp, extra: Value) -> (String, i64) {
    let (_, promoter) = app.promoter("box-office").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Hall", "address": "x", "maxRow": "B", "maxColumn": 5}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let mut body = json!({
        "name": "Pay to confirm", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
        "checkout": "PAYMENT", "holdMinutes": 15, "currency": "EUR",
        "seatPrices": [{"grade": "R", "price": 100}], "seatList": [{"horizontals": ["A", "B"], "grade": "R"}],
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let created = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
    created.assert_status(201);
    (promoter, created.data()["id"].as_i64().unwrap())
}

fn book(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/reservations")
}

fn statuses(app_map: &Value) -> String {
    app_map["rows"].as_array().unwrap().iter().map(|r| r["statuses"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_payment_concert_holds_seats_until_the_promoter_records_the_payment() {
    let app = TestApp::spawn().await;
    let (promoter, id) = concert(&app, json!({})).await;
    let detail = app.get(&format!("/api/v1/concerts/{id}"), None).await;
    assert_eq!(detail.data()["checkout"], "PAYMENT");
    assert_eq!(detail.data()["holdMinutes"], 15);
    assert_eq!(detail.data()["currency"], "EUR");

    let (_, fan) = app.fan("payer").await;
    let held = app
        .post(
            &book(id),
            &json!({"seats": [{"horizontal": "A", "vertical": 1}, {"horizontal": "A", "vertical": 2}]}),
            Some(&fan),
        )
        .await;
    held.assert_status(201);
    let reservations = held.data()["reservations"].as_array().unwrap().clone();
    assert!(reservations.iter().all(|r| r["status"] == "H" && r["expiresAt"].is_string()));
    let order_id = reservations[0]["orderId"].as_i64().unwrap();
    // Held seats are taken for everyone else, and shown as held.
    let (_, rival) = app.fan("rival").await;
    app.post(&book(id), &json!({"horizontal": "A", "vertical": 1}), Some(&rival))
        .await
        .assert_error(409, "SEAT_TAKEN");
    let map = app.get(&format!("/api/v1/concerts/{id}/seats"), None).await;
    assert_eq!(&statuses(map.data())[..5], "HHAAA");

    let order = app.get(&format!("/api/v1/orders/{order_id}"), Some(&fan)).await;
    order.assert_status(200);
    assert_eq!(order.data()["status"], "PENDING_PAYMENT");
    assert_eq!(order.data()["total"], 200);
    assert_eq!(order.data()["currency"], "EUR");
    assert_eq!(order.data()["reservations"].as_array().unwrap().len(), 2);
    // Others may not see it; its promoter may.
    app.get(&format!("/api/v1/orders/{order_id}"), Some(&rival)).await.assert_status(403);
    app.get(&format!("/api/v1/orders/{order_id}"), Some(&promoter)).await.assert_status(200);
    app.get("/api/v1/orders/999999", Some(&fan)).await.assert_status(404);

    // Paying (manual): instructions, the same answer twice; only the fan may start it.
    let pay = app.post(&format!("/api/v1/orders/{order_id}/payment"), &json!({}), Some(&fan)).await;
    pay.assert_status(200);
    assert_eq!(pay.data()["provider"], "manual");
    assert_eq!(pay.data()["status"], "PENDING");
    assert!(pay.data()["instructions"].as_str().unwrap().contains("box office"));
    let again = app.post(&format!("/api/v1/orders/{order_id}/payment"), &json!({}), Some(&fan)).await;
    assert_eq!(again.data(), pay.data());
    app.post(&format!("/api/v1/orders/{order_id}/payment"), &json!({}), Some(&rival))
        .await
        .assert_status(403);

    // Only the promoter (or an admin) records the payment; twice counts once.
    app.post(&format!("/api/v1/orders/{order_id}/mark-paid"), &json!({}), Some(&fan))
        .await
        .assert_status(403);
    let paid = app.post(&format!("/api/v1/orders/{order_id}/mark-paid"), &json!({}), Some(&promoter)).await;
    paid.assert_status(200);
    assert_eq!(paid.data()["outcome"], "PAID");
    assert_eq!(paid.data()["order"]["status"], "PAID");
    assert_eq!(paid.data()["order"]["paid"], 200);
    assert_eq!(paid.data()["order"]["payment"]["status"], "SUCCEEDED");
    assert!(paid.data()["order"]["reservations"].as_array().unwrap().iter().all(|r| r["status"] == "Y"));
    let twice = app.post(&format!("/api/v1/orders/{order_id}/mark-paid"), &json!({}), Some(&promoter)).await;
    assert_eq!(twice.data()["outcome"], "ALREADY_PAID");
    assert_eq!(
        twice.data()["order"]["history"].as_array().unwrap().len(),
        1,
        "one PAID change in the history"
    );
    let map = app.get(&format!("/api/v1/concerts/{id}/seats"), None).await;
    assert_eq!(&statuses(map.data())[..5], "RRAAA");

    // The fan's orders and the concert's, filtered by status.
    let mine = app.get("/api/v1/users/my/orders", Some(&fan)).await;
    assert_eq!(mine.data()[0]["id"], order_id);
    let listed = app.get(&format!("/api/v1/concerts/{id}/orders?status=PAID"), Some(&promoter)).await;
    assert_eq!(listed.data()["totalElements"], 1);
    let none = app.get(&format!("/api/v1/concerts/{id}/orders?status=EXPIRED"), Some(&promoter)).await;
    assert_eq!(none.data()["totalElements"], 0);
    app.get(&format!("/api/v1/concerts/{id}/orders?status=paid"), Some(&promoter))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.get(&format!("/api/v1/concerts/{id}/orders"), Some(&fan)).await.assert_status(403);

    // Cancelling a paid seat refunds its price.
    let seat = reservations[0]["id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/concerts/{id}/reservations/{seat}"), Some(&fan)).await.assert_status(200);
    let order = app.get(&format!("/api/v1/orders/{order_id}"), Some(&fan)).await;
    assert_eq!(order.data()["status"], "PARTIALLY_REFUNDED");
    assert_eq!(order.data()["refunded"], 100);
    assert_eq!(order.data()["refunds"][0]["reservationId"], seat);
    // The concert's sales count the money: taken, and given back.
    let sales = app.get(&format!("/api/v1/concerts/{id}/sales"), Some(&promoter)).await;
    assert_eq!((&sales.data()["paid"], &sales.data()["refunded"]), (&json!(200), &json!(100)));
    assert_eq!((&sales.data()["soldSeats"], &sales.data()["revenue"]), (&json!(1), &json!(100)));
}

#[tokio::test]
async fn a_fan_gives_up_a_pending_order_and_its_seats_are_free_at_once() {
    let app = TestApp::spawn().await;
    let (_, id) = concert(&app, json!({})).await;
    let (_, fan) = app.fan("quitter").await;
    let held = app.post(&book(id), &json!({"horizontal": "B", "vertical": 3}), Some(&fan)).await;
    held.assert_status(201);
    let order_id = held.data()["orderId"].as_i64().unwrap();
    // A held seat is given up with its order, not alone.
    let reservation = held.data()["id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/concerts/{id}/reservations/{reservation}"), Some(&fan))
        .await
        .assert_error(409, "ORDER_PENDING");
    let (_, other) = app.fan("not-mine").await;
    app.delete(&format!("/api/v1/orders/{order_id}"), Some(&other)).await.assert_status(403);
    let cancelled = app.delete(&format!("/api/v1/orders/{order_id}"), Some(&fan)).await;
    cancelled.assert_status(200);
    assert_eq!(cancelled.data()["status"], "CANCELLED");
    assert_eq!(cancelled.data()["reservations"][0]["status"], "N");
    app.delete(&format!("/api/v1/orders/{order_id}"), Some(&fan))
        .await
        .assert_error(409, "ORDER_NOT_PENDING");
    app.post(&book(id), &json!({"horizontal": "B", "vertical": 3}), Some(&other)).await.assert_status(201);
}

#[tokio::test]
async fn a_seat_whose_hold_is_over_can_be_booked_before_the_sweeper_came() {
    let app = TestApp::spawn().await;
    let (promoter, id) = concert(&app, json!({})).await;
    let (_, first) = app.fan("slow-payer").await;
    let held = app
        .post(
            &book(id),
            &json!({"seats": [{"horizontal": "A", "vertical": 4}, {"horizontal": "A", "vertical": 5}]}),
            Some(&first),
        )
        .await;
    held.assert_status(201);
    let order_id = held.data()["reservations"][0]["orderId"].as_i64().unwrap();
    app.end_hold(order_id).await;
    // With a key the gate is passed by: the database path expires the hold and books.
    let (_, second) = app.fan("quick-payer").await;
    let request = app
        .client
        .post(app.url(&book(id)))
        .bearer_auth(&second)
        .header("Idempotency-Key", "late-1")
        .json(&json!({"horizontal": "A", "vertical": 4}));
    TestApp::reply(request.send().await.unwrap()).await.assert_status(201);
    let order = app.get(&format!("/api/v1/orders/{order_id}"), Some(&first)).await;
    assert_eq!(order.data()["status"], "EXPIRED");
    assert!(order.data()["reservations"].as_array().unwrap().iter().all(|r| r["status"] == "E"));
    // Paid now, the money goes back: one of its seats is gone.
    let late = app.post(&format!("/api/v1/orders/{order_id}/mark-paid"), &json!({}), Some(&promoter)).await;
    late.assert_status(200);
    assert_eq!(late.data()["outcome"], "REFUNDED");
    assert_eq!(late.data()["order"]["status"], "REFUNDED");
    assert_eq!(late.data()["order"]["reason"], "EXPIRED_BEFORE_PAYMENT");
    assert_eq!(late.data()["order"]["refunds"][0]["amount"], 200);
    let map = app.get(&format!("/api/v1/concerts/{id}/seats"), None).await;
    assert_eq!(&statuses(map.data())[..5], "AAAHA", "A-5 free again, A-4 held by the second fan");
}

#[tokio::test]
async fn the_sweeper_expires_holds_and_a_late_payment_takes_free_seats_again() {
    let app = TestApp::spawn().await;
    let (promoter, id) = concert(&app, json!({})).await;
    let (_, fan) = app.fan("late-but-lucky").await;
    let held = app.post(&book(id), &json!({"horizontal": "B", "vertical": 1}), Some(&fan)).await;
    let order_id = held.data()["orderId"].as_i64().unwrap();
    app.end_hold(order_id).await;
    // The sweeper runs every second: wait for its outcome, not for a fixed time.
    let mut expired = false;
    for _ in 0..100 {
        let order = app.get(&format!("/api/v1/orders/{order_id}"), Some(&fan)).await;
        if order.data()["status"] == "EXPIRED" {
            expired = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(expired, "the sweeper expired the order");
    let map = app.get(&format!("/api/v1/concerts/{id}/seats"), None).await;
    assert_eq!(&statuses(map.data())[5..], "AAAAA");
    // Its seat is still free: the payment takes it again.
    let paid = app.post(&format!("/api/v1/orders/{order_id}/mark-paid"), &json!({}), Some(&promoter)).await;
    assert_eq!(paid.data()["outcome"], "PAID");
    assert_eq!(paid.data()["order"]["status"], "PAID");
    let map = app.get(&format!("/api/v1/concerts/{id}/seats"), None).await;
    assert_eq!(&statuses(map.data())[5..], "RAAAA");
}

#[tokio::test]
async fn direct_concerts_confirm_at_once_with_an_order_and_bad_checkout_fields_are_refused() {
    let app = TestApp::spawn().await;
    let (promoter, id) = concert(&app, json!({"checkout": "DIRECT"})).await;
    let (_, fan) = app.fan("direct-fan").await;
    let booked = app.post(&book(id), &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await;
    booked.assert_status(201);
    assert_eq!(booked.data()["status"], "Y");
    assert!(
        booked.data().get("orderId").is_none() && booked.data().get("expiresAt").is_none(),
        "the seed's shape"
    );
    let mine = app.get("/api/v1/users/my/orders", Some(&fan)).await;
    assert_eq!(mine.data()[0]["status"], "CONFIRMED");
    assert_eq!(mine.data()[0]["total"], 100);
    let order_id = mine.data()[0]["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/orders/{order_id}/payment"), &json!({}), Some(&fan))
        .await
        .assert_error(409, "ORDER_NOT_PENDING");

    let hall = app.get(&format!("/api/v1/concerts/{id}"), None).await.data()["auditoriumId"].clone();
    for (field, value) in [
        ("checkout", json!("LATER")),
        ("holdMinutes", json!(0)),
        ("holdMinutes", json!(61)),
        ("currency", json!("eur")),
    ] {
        let mut body = json!({
            "name": "Bad", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall,
            "seatPrices": [{"grade": "R", "price": 100}], "seatList": [{"horizontals": ["A"], "grade": "R"}],
        });
        body[field] = value;
        let refused = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
        refused.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(refused.error_fields(), [field]);
    }
    let listed = app.get("/api/v1/concerts", None).await;
    assert_eq!(listed.data()["totalElements"], 1, "nothing created");
}

#[tokio::test]
async fn without_a_payment_provider_only_direct_concerts_can_be_made() {
    let app =
        TestApp::spawn_with(|config| config.payments.provider = tickitecking::config::PaymentProvider::None)
            .await;
    let (_, promoter) = app.promoter("no-provider").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Hall", "address": "x", "maxRow": "A", "maxColumn": 5}),
            Some(&promoter),
        )
        .await;
    let body = json!({
        "name": "Pay", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"], "checkout": "PAYMENT",
        "seatPrices": [{"grade": "R", "price": 100}], "seatList": [{"horizontals": ["A"], "grade": "R"}],
    });
    let refused = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
    refused.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(refused.error_fields(), ["checkout"]);
}

#[tokio::test]
async fn the_fan_is_emailed_once_per_event_paid_refunded_or_expired() {
    let app = TestApp::spawn().await;
    let (promoter, id) = concert(&app, json!({})).await;
    let (_, fan) = app.fan("mailed").await;
    let held = app.post(&book(id), &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await;
    let paid_order = held.data()["orderId"].as_i64().unwrap();
    for _ in 0..2 {
        app.post(&format!("/api/v1/orders/{paid_order}/mark-paid"), &json!({}), Some(&promoter))
            .await
            .assert_status(200);
    }
    let reservation = held.data()["id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/concerts/{id}/reservations/{reservation}"), Some(&fan))
        .await
        .assert_status(200);
    let lapsed = app.post(&book(id), &json!({"horizontal": "A", "vertical": 2}), Some(&fan)).await;
    let lapsed_order = lapsed.data()["orderId"].as_i64().unwrap();
    app.end_hold(lapsed_order).await;
    let sent = app.emails(3).await;
    // Give a second sweep and send round the chance to send anything twice.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(app.emails(3).await.len(), 3, "one e-mail per event");
    let with = |needle: &str| sent.iter().filter(|m| m.contains(needle)).count();
    assert_eq!(with(&format!("Subject: Your tickets: order {paid_order}")), 1);
    assert_eq!(with(&format!("Subject: Refund for order {paid_order}")), 1);
    assert_eq!(with(&format!("Subject: Your hold has ended: order {lapsed_order}")), 1);
    assert!(sent.iter().all(|m| m.contains("To: mailed@example.com") && !m.contains("{PUBLIC_URL}")));
    assert!(sent.iter().any(|m| m.contains(&format!("/orders?order={paid_order}"))));
    // The paid order's e-mail links each ticket's page (its QR code).
    assert!(sent.iter().any(|m| m.contains(&format!("/tickets/{reservation}"))), "{sent:#?}");
}

#[tokio::test]
async fn a_paid_order_is_confirmed_once_with_each_tickets_qr_code_inline() {
    let app = TestApp::spawn().await;
    let (promoter, id) = concert(&app, json!({})).await;
    let (_, fan) = app.fan("paid-mail").await;
    let held = app
        .post(
            &book(id),
            &json!({"seats": [{"horizontal": "B", "vertical": 1}, {"horizontal": "B", "vertical": 2}]}),
            Some(&fan),
        )
        .await;
    held.assert_status(201);
    let order = held.data()["reservations"][0]["orderId"].as_i64().unwrap();
    let ids: Vec<i64> =
        held.data()["reservations"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    for _ in 0..2 {
        app.post(&format!("/api/v1/orders/{order}/mark-paid"), &json!({}), Some(&promoter)).await;
    }
    let mut codes = Vec::new();
    for id in &ids {
        let ticket = app.get(&format!("/api/v1/tickets/{id}"), Some(&fan)).await;
        ticket.assert_status(200);
        codes.push(ticket.data()["code"].as_str().unwrap().to_owned());
    }

    let sent = app.emails(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(app.emails(1).await.len(), 1, "one confirmation, however often the payment is recorded");
    let mail = Mail::parse(&sent[0]);
    assert_eq!(mail.header("Subject"), Some(format!("Your tickets: order {order}").as_str()));
    assert_eq!(mail.header("To"), Some("paid-mail@example.com"));
    assert!(
        mail.text().starts_with(&format!("Thank you: order {order} is paid (200 EUR).")),
        "{}",
        mail.text()
    );
    assert_carries_tickets(&mail, &[(ids[0], &codes[0]), (ids[1], &codes[1])]);
}
