//! The `checkin` scenario: the door on concert night. Before the run the bench books
//! tickets (whole rows of the run's `DIRECT` concerts, one booking a row), reads each
//! ticket's code from its fan's ticket list, and makes a check-in token per concert; every
//! request of the run scans a distinct ticket's code with its concert's token. Afterwards
//! it checks through the API that the door counts exactly the admissions it answered, and
//! that a sample of the admitted tickets scanned again is refused as already checked in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::client::{Connection, bearer};
use super::report::Tally;
use super::setup::{Fixture, SEATS_PER_CONCERT, seat_at};

/// Seats of a row of the bench's hall: one booking books a row.
const ROW: usize = 100;
/// Admitted tickets scanned again after the run (evenly spread over all of them).
const SAMPLE: usize = 300;

/// A ticket the run scans.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: i64,
    pub concert: i64,
    /// Its code as a JSON string (quoted), ready for the request body.
    code_json: String,
}

/// The run's tickets, in the order they are scanned, and the door's tokens.
pub struct Door {
    pub tickets: Vec<Ticket>,
    /// `Authorization` of each concert's check-in token.
    tokens: HashMap<i64, HeaderValue>,
}

impl Door {
    /// The scan of ticket number `i` by scanner `device` (plain text: letters, digits,
    /// `-`): path, token and body.
    pub fn scan(&self, i: usize, device: &str) -> anyhow::Result<(String, HeaderValue, Bytes)> {
        let ticket = &self.tickets[i];
        let token = self.tokens.get(&ticket.concert).context("a concert without its check-in token")?;
        let body = format!(r#"{{"code":{},"deviceId":"{device}"}}"#, ticket.code_json);
        Ok((format!("/api/v1/concerts/{}/checkins", ticket.concert), token.clone(), Bytes::from(body)))
    }
}

/// Whether a 200 to a scan says `ADMITTED` (read without building the document).
pub fn admitted(body: &[u8]) -> bool {
    body.windows(10).any(|w| w == br#""ADMITTED""#)
}

/// Books `count` tickets of the run's concerts over `lanes` connections — seat `k` of the
/// concerts in order, row by row, each row one booking of a fan's — reads their codes, and
/// makes each concert's check-in token. The concerts must let a fan hold a whole row.
pub async fn prepare(
    address: SocketAddr,
    fixture: &Arc<Fixture>,
    count: usize,
    lanes: usize,
) -> anyhow::Result<Door> {
    anyhow::ensure!(
        count <= fixture.concerts.len() * SEATS_PER_CONCERT,
        "{count} tickets need {} concerts",
        count.div_ceil(SEATS_PER_CONCERT)
    );
    let rows = count.div_ceil(ROW);
    let lanes = lanes.clamp(1, rows.max(1));
    let mut tasks = Vec::with_capacity(lanes);
    for lane in 0..lanes {
        let fixture = fixture.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::new(address);
            for r in (lane..rows).step_by(lanes) {
                book_row(&mut conn, &fixture, r, (count - r * ROW).min(ROW)).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    // Every fan reads their tickets, a few at a time.
    let fans = fixture.fans.len();
    let lanes = lanes.min(fans);
    let mut tasks = Vec::with_capacity(lanes);
    for lane in 0..lanes {
        let fixture = fixture.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::new(address);
            let mut tickets = Vec::new();
            for fan in (lane..fans).step_by(lanes) {
                tickets.extend(tickets_of(&mut conn, &fixture.fans[fan]).await?);
            }
            anyhow::Ok(tickets)
        }));
    }
    let mut tickets = Vec::with_capacity(count);
    for task in tasks {
        tickets.extend(task.await??);
    }
    tickets.retain(|t| fixture.concerts.contains(&t.concert));
    anyhow::ensure!(tickets.len() == count, "booked {count} tickets, the fans hold {}", tickets.len());
    tickets.sort_by_key(|t| t.id);
    let mut conn = Connection::new(address);
    let mut tokens = HashMap::new();
    for &concert in &fixture.concerts {
        let token = door_token(&mut conn, fixture.venue.promoter_token(), concert).await?;
        tokens.insert(concert, bearer(&token)?);
    }
    Ok(Door { tickets, tokens })
}

/// Books row number `r` of the run's concerts (its first `seats` seats) for one fan.
async fn book_row(conn: &mut Connection, fixture: &Fixture, r: usize, seats: usize) -> anyhow::Result<()> {
    let rows_per_concert = SEATS_PER_CONCERT / ROW;
    let concert = fixture.concerts[r / rows_per_concert];
    let first = r % rows_per_concert * ROW;
    let seats: Vec<_> = (first..first + seats)
        .map(|k| {
            let (row, column) = seat_at(k);
            json!({"horizontal": row, "vertical": column})
        })
        .collect();
    // A fan books one row of a concert: the concert's 26 rows go to 26 fans.
    let fan = &fixture.fans[r % fixture.fans.len()];
    let path = format!("/api/v1/concerts/{concert}/reservations");
    let answer = conn.send_json(Method::POST, &path, Some(fan), &json!({"seats": seats})).await?;
    if answer.status != StatusCode::CREATED {
        bail!(
            "booking row {} of concert {concert}: {}: {}",
            seat_at(first).0,
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    Ok(())
}

/// A fan's tickets with their codes.
async fn tickets_of(conn: &mut Connection, fan: &str) -> anyhow::Result<Vec<Ticket>> {
    let answer = conn.send(Method::GET, "/api/v1/users/my/tickets", Some(fan), None).await?;
    anyhow::ensure!(answer.status == StatusCode::OK, "reading a fan's tickets: {}", answer.status);
    let listed = answer.json();
    let mut tickets = Vec::new();
    for t in listed["data"].as_array().context("a ticket list")? {
        let code = t["code"].as_str().context("a ticket without its code")?;
        tickets.push(Ticket {
            id: t["id"].as_i64().context("a ticket without its id")?,
            concert: t["concert"]["id"].as_i64().context("a ticket without its concert")?,
            code_json: serde_json::to_string(code)?,
        });
    }
    Ok(tickets)
}

/// A new check-in token of `concert`, made by its promoter.
async fn door_token(conn: &mut Connection, promoter: &str, concert: i64) -> anyhow::Result<String> {
    let path = format!("/api/v1/concerts/{concert}/checkin/tokens");
    let answer = conn.send_json(Method::POST, &path, Some(promoter), &json!({"name": "bench door"})).await?;
    anyhow::ensure!(
        answer.status == StatusCode::CREATED,
        "making concert {concert}'s check-in token: {}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()["data"]["token"].as_str().map(str::to_owned).context("a check-in token without its secret")
}

/// The after-run check of `checkin`: the door counts exactly the admissions answered, and
/// an admitted ticket is not admitted again.
#[derive(Debug, Serialize)]
pub struct Admissions {
    /// Tickets booked before the run.
    pub tickets: usize,
    /// Scans answered 200 `ADMITTED` (the warm-up's and the peak run's too).
    pub admitted: usize,
    /// Scans answered otherwise: each one a failure.
    pub not_admitted: u64,
    /// Admitted tickets of the run's concerts as the door's stats count them: as many as
    /// scans admitted (a few more at most where an answer was lost on the way).
    pub door_admitted: i64,
    /// Valid tickets of the run's concerts as the stats count them: all it booked.
    pub door_total: i64,
    /// Admitted tickets scanned again.
    pub sampled: usize,
    /// Of them: answered 409 `ALREADY_CHECKED_IN`.
    pub sampled_refused: usize,
    pub ok: bool,
}

/// Reads back what the run's scans did: the door's stats of every concert, and a sample of
/// the admitted tickets scanned again.
pub async fn verify(address: SocketAddr, door: &Door, tally: &Tally) -> anyhow::Result<Admissions> {
    let mut conn = Connection::new(address);
    let (mut door_admitted, mut door_total) = (0, 0);
    for (concert, token) in &door.tokens {
        let path = format!("/api/v1/concerts/{concert}/checkin/stats");
        let answer = conn.send_as(Method::GET, &path, Some(token.clone()), None).await?;
        anyhow::ensure!(
            answer.status == StatusCode::OK,
            "reading concert {concert}'s door stats: {}",
            answer.status
        );
        let stats = answer.json();
        door_admitted += stats["data"]["admitted"].as_i64().context("admitted")?;
        door_total += stats["data"]["total"].as_i64().context("total")?;
    }
    let by_id: HashMap<i64, usize> = door.tickets.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let step = tally.admitted.len().div_ceil(SAMPLE).max(1);
    let (mut sampled, mut sampled_refused) = (0, 0);
    for id in tally.admitted.iter().step_by(step) {
        let i = *by_id.get(id).context("an admission of a ticket the run did not book")?;
        let (path, token, body) = door.scan(i, "bench-verify")?;
        let answer = conn.send_as(Method::POST, &path, Some(token), Some(body)).await?;
        sampled += 1;
        if answer.status == StatusCode::CONFLICT && answer.json()["code"] == "ALREADY_CHECKED_IN" {
            sampled_refused += 1;
        }
    }
    let unanswered = i64::try_from(tally.errors)?;
    let admitted = i64::try_from(tally.admitted.len())?;
    let ok = tally.not_admitted == 0
        && sampled_refused == sampled
        && (admitted..=admitted + unanswered).contains(&door_admitted)
        && door_total == i64::try_from(door.tickets.len())?;
    Ok(Admissions {
        tickets: door.tickets.len(),
        admitted: tally.admitted.len(),
        not_admitted: tally.not_admitted,
        door_admitted,
        door_total,
        sampled,
        sampled_refused,
        ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_names_its_concert_token_and_device() {
        let ticket = Ticket { id: 7, concert: 3, code_json: serde_json::to_string("ABC234").unwrap() };
        let door = Door { tickets: vec![ticket], tokens: [(3, bearer("ct_x").unwrap())].into() };
        let (path, token, body) = door.scan(0, "bench-5").unwrap();
        assert_eq!(path, "/api/v1/concerts/3/checkins");
        assert_eq!(token, "Bearer ct_x");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, json!({"code": "ABC234", "deviceId": "bench-5"}));
        assert!(admitted(br#"{"data":{"result":"ADMITTED","ticket":7}}"#));
        assert!(!admitted(br#"{"result":"ALREADY_CHECKED_IN"}"#));
    }
}
