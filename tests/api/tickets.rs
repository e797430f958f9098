//! Tickets and the door: every confirmed reservation is a ticket with a signed code; the
//! door admits a ticket once, refuses forged, other-concert and revoked codes, keeps
//! offline scans and their conflicts; transfers move a ticket and revoke its old code;
//! door staff check in with tokens of one concert. On both backends.

use serde_json::{Value, json};

use crate::emails::{Mail, assert_carries_tickets};
use crate::helpers::TestApp;

/// A hall of two rows of five (A at grade R, B at S) and a `DIRECT` concert in it.
async fn concert(app: &TestApp, promoter: &str, name: &str) -> i64 {
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": name, "address": "x", "maxRow": "B", "maxColumn": 5}),
            Some(promoter),
        )
        .await;
    hall.assert_status(201);
    let created = app
        .post(
            "/api/v1/concerts",
            &json!({
                "name": name, "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
                "seatPrices": [{"grade": "R", "price": 100}, {"grade": "S", "price": 50}],
                "seatList": [{"horizontals": ["A"], "grade": "R"}, {"horizontals": ["B"], "grade": "S"}],
            }),
            Some(promoter),
        )
        .await;
    created.assert_status(201);
    created.data()["id"].as_i64().unwrap()
}

/// Books one seat; answers the ticket (reservation) id.
async fn book(app: &TestApp, concert: i64, fan: &str, row: &str, seat: u32) -> i64 {
    let booked = app
        .post(
            &format!("/api/v1/concerts/{concert}/reservations"),
            &json!({"seats": [{"horizontal": row, "vertical": seat}]}),
            Some(fan),
        )
        .await;
    booked.assert_status(201);
    booked.data()["reservations"][0]["id"].as_i64().unwrap()
}

fn checkins(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/checkins")
}

/// The code with one character changed to another of the alphabet.
fn tampered(code: &str) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn ticket(app: &TestApp, id: i64, token: &str) -> Value {
    let reply = app.get(&format!("/api/v1/tickets/{id}"), Some(token)).await;
    reply.assert_status(200);
    reply.data().clone()
}

#[tokio::test]
async fn a_confirmed_booking_is_a_ticket_whose_code_opens_the_door_once() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("door-promoter").await;
    let id = concert(&app, &promoter, "Door night").await;
    let (fan_id, fan) = app.fan("door-fan").await;
    let reservation = book(&app, id, &fan, "A", 1).await;

    let mine = app.get("/api/v1/users/my/tickets", Some(&fan)).await;
    mine.assert_status(200);
    let tickets = mine.data().as_array().unwrap();
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    assert_eq!(t["id"], reservation);
    assert_eq!(t["status"], "VALID");
    assert_eq!(t["version"], 1);
    assert_eq!(t["concert"]["id"], id);
    assert_eq!(t["seat"], json!({"section": "", "horizontal": "A", "vertical": 1, "grade": "R"}));
    assert_eq!(t["holder"]["id"], fan_id);
    assert!(t["checkedInAt"].is_null());
    let code = t["code"].as_str().unwrap().to_owned();
    assert!(
        code.len() > 60 && code.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
        "{code}"
    );

    // The holder and the promoter see it; another fan does not.
    assert_eq!(ticket(&app, reservation, &promoter).await["code"], code.as_str());
    let (_, other) = app.fan("door-other").await;
    app.get(&format!("/api/v1/tickets/{reservation}"), Some(&other)).await.assert_error(403, "FORBIDDEN");
    app.get("/api/v1/tickets/999999", Some(&fan)).await.assert_status(404);

    let qr = app.get(&format!("/api/v1/tickets/{reservation}/qr.svg"), Some(&fan)).await;
    qr.assert_status(200);
    assert_eq!(qr.headers["content-type"], "image/svg+xml");
    assert!(qr.text.contains("<svg") && qr.text.contains("</svg>"), "{}", qr.text);
    app.get(&format!("/api/v1/tickets/{reservation}/qr.svg"), Some(&other))
        .await
        .assert_error(403, "FORBIDDEN");

    // Fans cannot check in; the promoter can, once.
    app.post(&checkins(id), &json!({"code": code}), Some(&fan)).await.assert_error(403, "FORBIDDEN");
    let admitted =
        app.post(&checkins(id), &json!({"code": code, "deviceId": "gate-1"}), Some(&promoter)).await;
    admitted.assert_status(200);
    assert_eq!(admitted.data()["result"], "ADMITTED");
    assert_eq!(admitted.data()["ticket"], reservation);
    assert_eq!(admitted.data()["seat"]["horizontal"], "A");
    assert_eq!(admitted.data()["holder"], "door-fan");
    let again = app.post(&checkins(id), &json!({"code": code, "deviceId": "gate-2"}), Some(&promoter)).await;
    again.assert_error(409, "ALREADY_CHECKED_IN");
    assert_eq!(again.body["result"], "ALREADY_CHECKED_IN");
    assert_eq!(again.body["firstScan"]["deviceId"], "gate-1");
    assert!(again.body["message"].as_str().unwrap().contains("gate-1"));
    assert!(ticket(&app, reservation, &fan).await["checkedInAt"].is_string());

    // Lower case (some scanners lower it) is the same code.
    app.post(&checkins(id), &json!({"code": code.to_lowercase()}), Some(&promoter))
        .await
        .assert_error(409, "ALREADY_CHECKED_IN");
}

/// Books seats in one order; answers the tickets' ids and their codes as they are now.
async fn book_order(app: &TestApp, concert: i64, fan: &str, seats: &[(&str, u32)]) -> Vec<(i64, String)> {
    let seats: Vec<Value> =
        seats.iter().map(|(row, seat)| json!({"horizontal": row, "vertical": seat})).collect();
    let booked = app
        .post(&format!("/api/v1/concerts/{concert}/reservations"), &json!({"seats": seats}), Some(fan))
        .await;
    booked.assert_status(201);
    let mut tickets = Vec::new();
    for reservation in booked.data()["reservations"].as_array().unwrap() {
        let id = reservation["id"].as_i64().unwrap();
        tickets.push((id, ticket(app, id, fan).await["code"].as_str().unwrap().to_owned()));
    }
    tickets
}

#[tokio::test]
async fn a_direct_booking_is_confirmed_once_by_e_mail_with_each_tickets_qr_code_inline() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("mail-promoter").await;
    let id = concert(&app, &promoter, "Mailed").await;
    let (_, fan) = app.fan("mail-fan").await;
    let one = book_order(&app, id, &fan, &[("A", 1)]).await;
    let pair = book_order(&app, id, &fan, &[("B", 1), ("B", 2)]).await;

    let sent = app.emails(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(app.emails(2).await.len(), 2, "one e-mail per booking");
    let mails: Vec<Mail> = sent.iter().map(|raw| Mail::parse(raw)).collect();
    let with_ticket = |ticket: i64| {
        let found: Vec<&Mail> =
            mails.iter().filter(|m| m.text().contains(&format!("/tickets/{ticket}\n"))).collect();
        assert_eq!(found.len(), 1, "ticket {ticket} in one e-mail: {sent:#?}");
        found[0]
    };
    for (tickets, mail) in [(&one, with_ticket(one[0].0)), (&pair, with_ticket(pair[0].0))] {
        assert_eq!(mail.header("To"), Some("mail-fan@example.com"));
        assert!(mail.header("Subject").unwrap().starts_with("Your tickets: order "), "{mail:#?}");
        assert!(mail.text().contains(" is confirmed.\n\nMailed, "), "{}", mail.text());
        let carried: Vec<(i64, &str)> = tickets.iter().map(|(id, code)| (*id, code.as_str())).collect();
        assert_carries_tickets(mail, &carried);
    }
}

#[tokio::test]
async fn a_confirmation_sent_after_transfers_carries_the_current_codes_of_the_tickets_still_held() {
    let app = TestApp::spawn().await;
    // Nothing can be delivered while the outbox folder is a file: the confirmation waits.
    std::fs::write(app.dir.path().join("outbox"), b"not a folder").unwrap();
    let (_, promoter) = app.promoter("later-promoter").await;
    let id = concert(&app, &promoter, "Later").await;
    let (_, buyer) = app.fan("buyer").await;
    let (_, friend) = app.fan("friend").await;
    let booked = book_order(&app, id, &buyer, &[("A", 1), ("A", 2)]).await;
    let ((back, first_code), (given, _)) = (booked[0].clone(), booked[1].clone());
    let transfer = |ticket: i64, to: &str, token: &str| {
        let path = format!("/api/v1/tickets/{ticket}/transfer");
        let body = json!({"username": to});
        let token = token.to_owned();
        let app = &app;
        async move {
            app.post(&path, &body, Some(&token)).await.assert_status(200);
        }
    };
    transfer(back, "friend", &buyer).await;
    transfer(back, "buyer", &friend).await;
    transfer(given, "friend", &buyer).await;
    let current = ticket(&app, back, &buyer).await;
    assert_eq!(current["version"], 3);
    let current_code = current["code"].as_str().unwrap().to_owned();
    assert_ne!(current_code, first_code);

    // Deliverable again, and due now: the confirmation and the six transfer notices.
    std::fs::remove_file(app.dir.path().join("outbox")).unwrap();
    app.run_sql("UPDATE outbox SET next_attempt_at = created_at WHERE sent_at IS NULL AND failed_at IS NULL")
        .await;
    let sent = app.emails(7).await;
    let confirmations: Vec<Mail> = sent
        .iter()
        .map(|raw| Mail::parse(raw))
        .filter(|m| m.header("Subject").unwrap().starts_with("Your tickets"))
        .collect();
    assert_eq!(confirmations.len(), 1, "{sent:#?}");
    let mail = &confirmations[0];
    assert_eq!(mail.header("To"), Some("buyer@example.com"));
    // The ticket given back shows its code of now (version 3), not the one of the booking;
    // the ticket given away is the friend's: neither its code nor its link.
    assert_carries_tickets(mail, &[(back, &current_code)]);
    assert!(!crate::emails::png_shows_qr_code_of(&mail.images()[0].2, &first_code));
    assert!(mail.text().contains("- A-2: given to another fan\n"), "{}", mail.text());
    assert!(
        !mail.text().contains(&format!("/tickets/{given}"))
            && !mail.html().contains(&format!("/tickets/{given}"))
    );
}

#[tokio::test]
async fn forged_truncated_and_other_concert_codes_are_invalid_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("forge-promoter").await;
    let id = concert(&app, &promoter, "Forgery").await;
    let other = concert(&app, &promoter, "Elsewhere").await;
    let (_, fan) = app.fan("forge-fan").await;
    let reservation = book(&app, id, &fan, "A", 2).await;
    let code = ticket(&app, reservation, &fan).await["code"].as_str().unwrap().to_owned();

    for bad in [tampered(&code), code[..code.len() - 8].to_owned(), "HELLO".to_owned(), String::new()] {
        app.post(&checkins(id), &json!({"code": bad}), Some(&promoter))
            .await
            .assert_error(400, "INVALID_CODE");
    }
    app.post(&checkins(other), &json!({"code": code}), Some(&promoter))
        .await
        .assert_error(400, "INVALID_CODE");
    // Bad fields are named.
    let long = "x".repeat(101);
    let bad = app.post(&checkins(id), &json!({"code": code, "deviceId": long}), Some(&promoter)).await;
    bad.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(bad.error_fields(), vec!["deviceId"]);
    app.post(&checkins(id), &json!({"code": code, "scannedAt": "2999-01-01T00:00:00Z"}), Some(&promoter))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.post(&checkins(id), &json!({"ticket": 1}), Some(&promoter)).await.assert_status(400);

    // Nothing was admitted: the real code still goes in.
    let scans = app.get(&checkins(id), Some(&promoter)).await;
    assert_eq!(scans.data().as_array().unwrap().len(), 0);
    app.post(&checkins(id), &json!({"code": code}), Some(&promoter)).await.assert_status(200);
}

#[tokio::test]
async fn a_cancelled_ticket_is_revoked_at_the_door() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("revoke-promoter").await;
    let id = concert(&app, &promoter, "Revoked").await;
    let (_, fan) = app.fan("revoke-fan").await;
    let reservation = book(&app, id, &fan, "B", 3).await;
    let code = ticket(&app, reservation, &fan).await["code"].as_str().unwrap().to_owned();
    app.delete(&format!("/api/v1/concerts/{id}/reservations/{reservation}"), Some(&fan))
        .await
        .assert_status(200);

    let refused = app.post(&checkins(id), &json!({"code": code}), Some(&promoter)).await;
    refused.assert_error(409, "TICKET_REVOKED");
    assert_eq!(refused.body["result"], "TICKET_REVOKED");
    assert_eq!(ticket(&app, reservation, &promoter).await["status"], "REVOKED");
    let mine = app.get("/api/v1/users/my/tickets", Some(&fan)).await;
    assert_eq!(mine.data().as_array().unwrap().len(), 0);
    // The refusal is kept with the scans.
    let kept = app.get(&format!("{}?result=TICKET_REVOKED", checkins(id)), Some(&promoter)).await;
    assert_eq!(kept.data().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_transfer_moves_the_ticket_and_revokes_its_old_code() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("move-promoter").await;
    let id = concert(&app, &promoter, "Moving").await;
    let (_, giver) = app.fan("giver").await;
    let (taker_id, taker) = app.fan("taker").await;
    let reservation = book(&app, id, &giver, "A", 4).await;
    let old_code = ticket(&app, reservation, &giver).await["code"].as_str().unwrap().to_owned();
    let transfer = format!("/api/v1/tickets/{reservation}/transfer");

    // Refusals change nothing.
    app.post(&transfer, &json!({"username": "giver"}), Some(&giver))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.post(&transfer, &json!({"username": ""}), Some(&giver)).await.assert_error(400, "VALIDATION_FAILED");
    app.post(&transfer, &json!({"username": "nobody-here"}), Some(&giver)).await.assert_status(404);
    app.post(&transfer, &json!({"username": "giver"}), Some(&taker)).await.assert_error(403, "FORBIDDEN");

    let moved = app.post(&transfer, &json!({"username": "taker"}), Some(&giver)).await;
    moved.assert_status(200);
    assert_eq!(moved.data()["holder"]["id"], taker_id);
    assert_eq!(moved.data()["version"], 2);
    let new_code = moved.data()["code"].as_str().unwrap().to_owned();
    assert_ne!(new_code, old_code);
    assert_eq!(app.get("/api/v1/users/my/tickets", Some(&giver)).await.data().as_array().unwrap().len(), 0);
    let theirs = app.get("/api/v1/users/my/tickets", Some(&taker)).await;
    assert_eq!(theirs.data()[0]["id"], reservation);
    app.get(&format!("/api/v1/tickets/{reservation}"), Some(&giver)).await.assert_error(403, "FORBIDDEN");

    // Its buyer cannot take it back by cancelling.
    app.delete(&format!("/api/v1/concerts/{id}/reservations/{reservation}"), Some(&giver))
        .await
        .assert_error(409, "TICKET_TRANSFERRED");
    app.post(&checkins(id), &json!({"code": old_code}), Some(&promoter))
        .await
        .assert_error(409, "TICKET_REVOKED");
    app.post(&checkins(id), &json!({"code": new_code}), Some(&promoter)).await.assert_status(200);
    // Used at the door: it moves no more.
    app.post(&transfer, &json!({"username": "giver"}), Some(&taker))
        .await
        .assert_error(409, "ALREADY_CHECKED_IN");
}

#[tokio::test]
async fn a_ticket_moves_again_on_to_a_third_fan_and_back_to_its_buyer_each_time_with_a_new_code() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("again-promoter").await;
    let id = concert(&app, &promoter, "Again").await;
    let (buyer_id, buyer) = app.fan("again-buyer").await;
    let (_, second) = app.fan("again-second").await;
    app.fan("again-third").await;
    let reservation = book(&app, id, &buyer, "B", 3).await;
    let transfer = format!("/api/v1/tickets/{reservation}/transfer");
    let mut codes = vec![ticket(&app, reservation, &buyer).await["code"].as_str().unwrap().to_owned()];
    for (to, from, version) in
        [("again-second", &buyer, 2), ("again-buyer", &second, 3), ("again-second", &buyer, 4)]
    {
        let moved = app.post(&transfer, &json!({"username": to}), Some(from)).await;
        moved.assert_status(200);
        assert_eq!(moved.data()["version"], version);
        codes.push(moved.data()["code"].as_str().unwrap().to_owned());
    }
    let onwards = app.post(&transfer, &json!({"username": "again-third"}), Some(&second)).await;
    onwards.assert_status(200);
    assert_eq!(onwards.data()["version"], 5);
    codes.push(onwards.data()["code"].as_str().unwrap().to_owned());
    let distinct: std::collections::HashSet<&String> = codes.iter().collect();
    assert_eq!(distinct.len(), 5, "a new code each time");
    // Only the last code opens the door.
    for old in &codes[..4] {
        app.post(&checkins(id), &json!({"code": old}), Some(&promoter))
            .await
            .assert_error(409, "TICKET_REVOKED");
    }
    assert_ne!(ticket(&app, reservation, &promoter).await["holder"]["id"], buyer_id);
    app.post(&checkins(id), &json!({"code": codes[4]}), Some(&promoter)).await.assert_status(200);
}

#[tokio::test]
async fn a_ticket_does_not_move_once_the_concert_started() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("late-promoter").await;
    let id = concert(&app, &promoter, "Started").await;
    let (_, fan) = app.fan("late-fan").await;
    app.fan("late-friend").await;
    let reservation = book(&app, id, &fan, "A", 5).await;
    app.run_sql(&format!("UPDATE concerts SET start_time = '2000-01-01T00:00:00+00:00' WHERE id = {id}"))
        .await;
    app.post(
        &format!("/api/v1/tickets/{reservation}/transfer"),
        &json!({"username": "late-friend"}),
        Some(&fan),
    )
    .await
    .assert_error(409, "CONCERT_STARTED");
}

#[tokio::test]
async fn the_same_ticket_at_many_doors_at_once_is_admitted_once() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("rush-promoter").await;
    let id = concert(&app, &promoter, "Doors").await;
    let (_, fan) = app.fan("rush-fan").await;
    let reservation = book(&app, id, &fan, "A", 1).await;
    let code = ticket(&app, reservation, &fan).await["code"].as_str().unwrap().to_owned();
    let scans = (0..8).map(|door| {
        let (app, code, promoter) = (&app, code.clone(), promoter.clone());
        async move {
            app.post(
                &checkins(id),
                &json!({"code": code, "deviceId": format!("door-{door}")}),
                Some(&promoter),
            )
            .await
        }
    });
    let replies = futures_util::future::join_all(scans).await;
    let admitted = replies.iter().filter(|r| r.status.as_u16() == 200).count();
    let refused =
        replies.iter().filter(|r| r.status.as_u16() == 409 && r.code() == "ALREADY_CHECKED_IN").count();
    assert_eq!((admitted, refused), (1, 7), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let stats = app.get(&format!("/api/v1/concerts/{id}/checkin/stats"), Some(&promoter)).await;
    assert_eq!(stats.data()["admitted"], 1);
}

#[tokio::test]
async fn offline_scans_are_kept_in_scan_order_and_a_second_admission_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("offline-promoter").await;
    let id = concert(&app, &promoter, "Offline").await;
    let (_, fan) = app.fan("offline-fan").await;
    let reservation = book(&app, id, &fan, "A", 3).await;
    let code = ticket(&app, reservation, &fan).await["code"].as_str().unwrap().to_owned();

    // Device B admitted the ticket online; device A had admitted it offline earlier and
    // uploads now: both went in, the second admission is a conflict, kept and listed.
    app.post(&checkins(id), &json!({"code": code, "deviceId": "B", "nonce": "b-1"}), Some(&promoter))
        .await
        .assert_status(200);
    let upload = json!({"code": code, "deviceId": "A", "nonce": "a-1", "scannedAt": "2020-01-01T18:00:00Z"});
    let conflict = app.post(&checkins(id), &upload, Some(&promoter)).await;
    conflict.assert_error(409, "ALREADY_CHECKED_IN");
    assert_eq!(conflict.body["result"], "CONFLICT");
    assert_eq!(conflict.body["firstScan"]["deviceId"], "B");
    // The same upload again (the scanner retries): the same answer, nothing new kept.
    let replay = app.post(&checkins(id), &upload, Some(&promoter)).await;
    replay.assert_error(409, "ALREADY_CHECKED_IN");
    assert_eq!(replay.body["scan"]["id"], conflict.body["scan"]["id"]);
    // So is an admission's nonce.
    let replay = app
        .post(&checkins(id), &json!({"code": code, "deviceId": "B", "nonce": "b-1"}), Some(&promoter))
        .await;
    replay.assert_status(200);

    let scans = app.get(&checkins(id), Some(&promoter)).await;
    let scans = scans.data().as_array().unwrap();
    assert_eq!(scans.len(), 2);
    assert_eq!(scans[0]["deviceId"], "A", "scan order: the offline scan came first");
    assert_eq!(scans[0]["result"], "CONFLICT");
    assert_eq!(scans[1]["result"], "ADMITTED");
    let conflicts = app.get(&format!("{}?result=CONFLICT", checkins(id)), Some(&promoter)).await;
    assert_eq!(conflicts.data().as_array().unwrap().len(), 1);
    app.get(&format!("{}?result=MAYBE", checkins(id)), Some(&promoter))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    let stats = app.get(&format!("/api/v1/concerts/{id}/checkin/stats"), Some(&promoter)).await;
    assert_eq!(stats.data()["conflicts"], 1);
}

#[tokio::test]
async fn door_staff_tokens_check_in_for_their_concert_only_until_revoked() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("token-promoter").await;
    let id = concert(&app, &promoter, "Tokens").await;
    let other = concert(&app, &promoter, "Other tokens").await;
    let (_, fan) = app.fan("token-fan").await;
    let first = book(&app, id, &fan, "A", 1).await;
    let second = book(&app, id, &fan, "B", 1).await;
    let tokens = format!("/api/v1/concerts/{id}/checkin/tokens");

    app.post(&tokens, &json!({"name": "North gate"}), Some(&fan)).await.assert_error(403, "FORBIDDEN");
    app.post(&tokens, &json!({"name": " "}), Some(&promoter)).await.assert_error(400, "VALIDATION_FAILED");
    let made = app.post(&tokens, &json!({"name": "North gate"}), Some(&promoter)).await;
    made.assert_status(201);
    let door = made.data()["token"].as_str().unwrap().to_owned();
    let token_id = made.data()["id"].as_i64().unwrap();
    assert!(door.starts_with("ct_"));
    let listed = app.get(&tokens, Some(&promoter)).await;
    assert_eq!(listed.data()[0]["name"], "North gate");
    assert!(listed.data()[0].get("token").is_none(), "the secret is shown once");

    let key = app.get(&format!("/api/v1/concerts/{id}/checkin/key"), Some(&door)).await;
    key.assert_status(200);
    assert_eq!(key.data()["algorithm"], "Ed25519");
    assert_eq!(key.data()["publicKey"].as_str().unwrap().len(), 43);

    let code = ticket(&app, first, &fan).await["code"].as_str().unwrap().to_owned();
    app.post(&checkins(id), &json!({"code": code}), Some(&door)).await.assert_status(200);
    app.post(&checkins(other), &json!({"code": code}), Some(&door)).await.assert_error(403, "FORBIDDEN");
    app.get(&format!("/api/v1/concerts/{other}/checkin/key"), Some(&door))
        .await
        .assert_error(403, "FORBIDDEN");
    // A token is for the door only.
    app.get("/api/v1/users/my/tickets", Some(&door)).await.assert_status(401);
    app.get(&checkins(id), Some(&door)).await.assert_status(401);

    app.delete(&format!("{tokens}/{token_id}"), Some(&promoter)).await.assert_status(204);
    app.delete(&format!("{tokens}/999999"), Some(&promoter)).await.assert_status(404);
    let code = ticket(&app, second, &fan).await["code"].as_str().unwrap().to_owned();
    app.post(&checkins(id), &json!({"code": code}), Some(&door)).await.assert_error(401, "TOKEN_INVALID");
    assert!(app.get(&tokens, Some(&promoter)).await.data()[0]["revokedAt"].is_string());
}

#[tokio::test]
async fn offline_scanners_download_the_tickets_and_the_revocations_and_then_the_changes() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("list-promoter").await;
    let id = concert(&app, &promoter, "Lists").await;
    let (_, fan) = app.fan("list-fan").await;
    app.fan("list-friend").await;
    let kept = book(&app, id, &fan, "A", 1).await;
    let cancelled = book(&app, id, &fan, "A", 2).await;
    let moved = book(&app, id, &fan, "B", 1).await;
    let list = format!("/api/v1/concerts/{id}/checkin/tickets");

    let all = app.get(&list, Some(&promoter)).await;
    all.assert_status(200);
    assert_eq!(all.data()["tickets"].as_array().unwrap().len(), 3);
    assert_eq!(all.data()["revoked"].as_array().unwrap().len(), 0);
    let as_of = all.data()["asOf"].as_str().unwrap().to_owned();

    app.delete(&format!("/api/v1/concerts/{id}/reservations/{cancelled}"), Some(&fan))
        .await
        .assert_status(200);
    app.post(&format!("/api/v1/tickets/{moved}/transfer"), &json!({"username": "list-friend"}), Some(&fan))
        .await
        .assert_status(200);
    let changes = app.get(&format!("{list}?since={}", as_of.replace('+', "%2B")), Some(&promoter)).await;
    changes.assert_status(200);
    let tickets = changes.data()["tickets"].as_array().unwrap();
    let ids: Vec<i64> = tickets.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert!(ids.contains(&cancelled) && ids.contains(&moved), "{ids:?}");
    let mut revoked: Vec<(i64, i64)> = changes.data()["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["ticket"].as_i64().unwrap(), r["version"].as_i64().unwrap()))
        .collect();
    revoked.sort();
    assert_eq!(revoked, vec![(cancelled, 1), (moved, 1)]);
    let moved_now = tickets.iter().find(|t| t["id"] == moved).unwrap();
    assert_eq!((moved_now["version"].as_i64(), moved_now["status"].as_str()), (Some(2), Some("VALID")));
    let _ = kept;
    app.get(&format!("{list}?since=yesterday"), Some(&promoter)).await.assert_error(400, "VALIDATION_FAILED");
}

#[tokio::test]
async fn the_promoter_sees_admissions_per_grade_and_exports_the_attendees() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("stats-promoter").await;
    let id = concert(&app, &promoter, "Stats").await;
    let (_, fan) = app.fan("stats-fan").await;
    let a = book(&app, id, &fan, "A", 1).await;
    book(&app, id, &fan, "A", 2).await;
    book(&app, id, &fan, "B", 1).await;
    let code = ticket(&app, a, &fan).await["code"].as_str().unwrap().to_owned();
    app.post(&checkins(id), &json!({"code": code, "deviceId": "south"}), Some(&promoter))
        .await
        .assert_status(200);

    let stats = app.get(&format!("/api/v1/concerts/{id}/checkin/stats"), Some(&promoter)).await;
    assert_eq!(stats.data()["admitted"], 1);
    assert_eq!(stats.data()["total"], 3);
    assert_eq!(
        stats.data()["grades"],
        json!([{"grade": "R", "admitted": 1, "total": 2}, {"grade": "S", "admitted": 0, "total": 1}])
    );

    app.get(&format!("/api/v1/concerts/{id}/attendees.csv"), Some(&fan)).await.assert_error(403, "FORBIDDEN");
    let csv = app.get(&format!("/api/v1/concerts/{id}/attendees.csv"), Some(&promoter)).await;
    csv.assert_status(200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text.clone();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ticket,section,row,seat,grade,username,nickname,email,checked_in_at,device");
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].starts_with(&format!("{a},,A,1,R,stats-fan,")) && lines[1].ends_with(",south"),
        "{text}"
    );
    assert!(lines[3].contains(",B,1,S,") && lines[3].ends_with(",,"), "{text}");
}

#[tokio::test]
async fn the_attendee_export_of_a_full_hall_is_streamed_row_by_seat() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("export-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Big hall", "address": "x", "maxRow": "T", "maxColumn": 100}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let rows: Vec<String> = ('A'..='T').map(String::from).collect();
    let created = app
        .post(
            "/api/v1/concerts",
            &json!({"name": "Full", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
                    "seatPrices": [{"grade": "R", "price": 100}], "seatList": [{"horizontals": rows, "grade": "R"}]}),
            Some(&promoter),
        )
        .await;
    created.assert_status(201);
    let id = created.data()["id"].as_i64().unwrap();
    let (fan_id, _) = app.fan("export-fan").await;
    // Every seat sold, behind the service's back (the per-fan limit raised for it).
    app.run_sql(&format!("UPDATE concerts SET max_seats_per_fan = 100000 WHERE id = {id}")).await;
    app.run_sql(&format!(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
         SELECT {fan_id}, {id}, s.id, 'Y', 10000, '2026-01-01T00:00:00+00:00' FROM seats s WHERE s.concert_id = {id}"
    ))
    .await;

    let csv = app.get(&format!("/api/v1/concerts/{id}/attendees.csv"), Some(&promoter)).await;
    csv.assert_status(200);
    assert!(csv.headers.get("content-length").is_none(), "streamed, not buffered: {:?}", csv.headers);
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 1 + 2_000);
    assert!(lines[1].ends_with(",,A,1,R,export-fan,,export-fan@example.com,,"), "{}", lines[1]);
    // By seat: row by row, seat by seat.
    let seats: Vec<(String, u32)> = lines[1..]
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[2].to_owned(), fields[3].parse().unwrap())
        })
        .collect();
    let expected: Vec<(String, u32)> =
        rows.iter().flat_map(|r| (1..=100).map(move |n| (r.clone(), n))).collect();
    assert_eq!(seats, expected);
}

#[tokio::test]
async fn a_held_seat_is_no_ticket_until_it_is_paid() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("paid-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Paid hall", "address": "x", "maxRow": "A", "maxColumn": 5}),
            Some(&promoter),
        )
        .await;
    let created = app
        .post(
            "/api/v1/concerts",
            &json!({"name": "Paid", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
                    "checkout": "PAYMENT", "seatPrices": [{"grade": "R", "price": 100}],
                    "seatList": [{"horizontals": ["A"], "grade": "R"}]}),
            Some(&promoter),
        )
        .await;
    let id = created.data()["id"].as_i64().unwrap();
    let (_, fan) = app.fan("paid-fan").await;
    let held = app
        .post(
            &format!("/api/v1/concerts/{id}/reservations"),
            &json!({"seats": [{"horizontal": "A", "vertical": 1}]}),
            Some(&fan),
        )
        .await;
    held.assert_status(201);
    let reservation = held.data()["reservations"][0]["id"].as_i64().unwrap();
    let order = held.data()["reservations"][0]["orderId"].as_i64().unwrap();
    assert_eq!(app.get("/api/v1/users/my/tickets", Some(&fan)).await.data().as_array().unwrap().len(), 0);
    app.get(&format!("/api/v1/tickets/{reservation}"), Some(&fan)).await.assert_status(404);

    app.post(&format!("/api/v1/orders/{order}/mark-paid"), &json!({}), Some(&promoter))
        .await
        .assert_status(200);
    let mine = app.get("/api/v1/users/my/tickets", Some(&fan)).await;
    assert_eq!(mine.data()[0]["id"], reservation);
    assert_eq!(mine.data()[0]["orderId"], order);
}
