//! Tickets and the door: a fan's tickets and their codes, transfers, check-in (online and
//! uploaded from scanners that were offline), door staff's tokens, and what the promoter
//! sees of the door.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use futures_util::{Stream, StreamExt};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use super::{ServiceError, ensure_owner};
use crate::auth::Principal;
use crate::domain::ticket::CheckinResult;
use crate::domain::user::Role;
use crate::domain::{FieldError, Invalid};
use crate::store::{
    Attendee, Checkin, CheckinRecord, CheckinTokenRecord, DoorTicket, GradeCount, Scan, Store, StoreError,
    TicketRecord, TransferError,
};
use crate::ticket::{TicketClaims, TicketKey, VerifyingKey, decode_and_verify, encode_and_sign, qr_svg};

/// What a check-in token starts with, so that the door can tell it from an access token.
pub const CHECKIN_TOKEN_PREFIX: &str = "ct_";

/// A scan whose `scannedAt` is older than this was made offline and uploaded later.
const OFFLINE_AFTER: Duration = Duration::seconds(30);

/// How far back a scanner's next `since` reaches before the time it was given: a change
/// committed just after the list was read, but stamped a moment before, is not missed.
const SINCE_OVERLAP: Duration = Duration::seconds(10);

/// Who scans at the door.
#[derive(Debug, Clone)]
pub enum Door {
    /// A signed-in user: the concert's promoter or an administrator.
    Staff(Principal),
    /// Door staff with a check-in token of one concert.
    Token { id: i64, concert_id: i64 },
}

/// A scan as the door sends it.
#[derive(Debug, Clone, Default)]
pub struct ScanInput {
    pub code: String,
    pub scanned_at: Option<DateTime<Utc>>,
    pub device_id: Option<String>,
    pub nonce: Option<String>,
}

/// Why the door refused a scan, or how it answered it.
#[derive(Debug, thiserror::Error)]
pub enum CheckinError {
    /// Not a code of this concert signed by this deployment.
    #[error("INVALID_CODE: {0}")]
    InvalidCode(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::store::StoreError> for CheckinError {
    fn from(e: crate::store::StoreError) -> Self {
        CheckinError::Service(e.into())
    }
}

/// The offline scanner's download: the tickets changed since the last one.
#[derive(Debug, Clone)]
pub struct DoorList {
    /// What to send as `since` next time.
    pub as_of: DateTime<Utc>,
    pub tickets: Vec<DoorTicket>,
}

/// The door's figures for the promoter.
#[derive(Debug, Clone)]
pub struct DoorStats {
    pub grades: Vec<GradeCount>,
    pub conflicts: i64,
}

/// A scan waiting for the door's writer, and where its answer goes.
type Queued = (Scan, oneshot::Sender<Result<Option<Checkin>, StoreError>>);

/// How many attendee rows the export reads ahead of its client.
const ATTENDEES_AHEAD: usize = 256;

/// Most scans the door's writer keeps in one transaction.
const SCANS_PER_BATCH: usize = 256;

/// A ticket's code of its current version, signed with `key`.
pub fn code_of(ticket: &TicketRecord, key: &TicketKey) -> String {
    let claims = TicketClaims {
        ticket_id: ticket.id,
        concert_id: ticket.concert_id,
        version: u32::try_from(ticket.version).unwrap_or(u32::MAX),
        seat: ticket.seat,
    };
    encode_and_sign(&claims, key)
}

/// The use cases of tickets and the door.
pub struct Tickets {
    store: Arc<dyn Store>,
    key: Arc<TicketKey>,
    verifying: VerifyingKey,
    /// The door's writer ([`admit_forever`]).
    door: mpsc::UnboundedSender<Queued>,
}

impl Tickets {
    /// The tickets' use cases; starts the door's writer on the current runtime.
    pub fn new(store: Arc<dyn Store>, key: Arc<TicketKey>) -> Self {
        let verifying = key.verifying_key();
        let (door, scans) = mpsc::unbounded_channel();
        tokio::spawn(admit_forever(store.clone(), scans));
        Self { store, key, verifying, door }
    }

    /// The ticket's code of its current version.
    pub fn code(&self, ticket: &TicketRecord) -> String {
        code_of(ticket, &self.key)
    }

    /// The public key the door verifies codes with (32 bytes, base64url).
    pub fn public_key(&self) -> String {
        self.key.public_key_base64url()
    }

    /// The caller's valid tickets.
    pub async fn mine(&self, caller: &Principal) -> Result<Vec<TicketRecord>, ServiceError> {
        Ok(self.store.tickets_of_holder(caller.user_id).await?)
    }

    /// A ticket, for its holder, the concert's promoter or an administrator.
    pub async fn ticket(&self, caller: &Principal, id: i64) -> Result<TicketRecord, ServiceError> {
        let ticket = self.store.ticket(id).await?.ok_or(ServiceError::NotFound("ticket"))?;
        let promoter = caller.has(Role::CompanyUser) && ticket.owner_id == caller.user_id;
        if ticket.holder_id != caller.user_id && !promoter && !caller.has(Role::Admin) {
            return Err(ServiceError::Forbidden(
                "only the ticket's holder, the concert's promoter or an administrator may see a ticket",
            ));
        }
        Ok(ticket)
    }

    /// The ticket's QR code, as SVG.
    pub async fn qr(&self, caller: &Principal, id: i64) -> Result<String, ServiceError> {
        let ticket = self.ticket(caller, id).await?;
        qr_svg(&self.code(&ticket)).map_err(|e| ServiceError::Other(anyhow::anyhow!("QR code: {e}")))
    }

    /// Gives the caller's ticket to the fan named `username`: a new code, the old one revoked.
    pub async fn transfer(
        &self,
        caller: &Principal,
        id: i64,
        username: &str,
    ) -> Result<TicketRecord, ServiceError> {
        let username = username.trim();
        if username.is_empty() {
            return Err(Invalid::field("username", "name the fan to give the ticket to").into());
        }
        match self.store.transfer(id, caller.user_id, username, Utc::now()).await {
            Ok(ticket) => {
                metrics::counter!("ticket_transfers_total").increment(1);
                Ok(ticket)
            }
            Err(TransferError::NotFound) => Err(ServiceError::NotFound("ticket")),
            Err(TransferError::NotHolder) => {
                Err(ServiceError::Forbidden("only the ticket's holder may transfer it"))
            }
            Err(TransferError::UnknownRecipient) => Err(ServiceError::NotFound("user")),
            Err(TransferError::ToSelf) => Err(Invalid(vec![FieldError {
                field: "username".into(),
                message: "the ticket is yours already".into(),
            }])
            .into()),
            Err(TransferError::Revoked) => {
                Err(ServiceError::conflict("TICKET_REVOKED", "the ticket was cancelled"))
            }
            Err(TransferError::Started) => Err(ServiceError::conflict(
                "CONCERT_STARTED",
                "tickets cannot change hands once the concert has started",
            )),
            Err(TransferError::CheckedIn) => {
                Err(ServiceError::conflict("ALREADY_CHECKED_IN", "the ticket was used at the door already"))
            }
            Err(TransferError::Store(e)) => Err(e.into()),
        }
    }

    /// The door behind a check-in token, if it is one that is live.
    pub async fn door_of_token(&self, token: &str) -> Result<Option<Door>, ServiceError> {
        let found = self.store.checkin_token(&token_hash(token)).await?;
        Ok(found.map(|(id, concert_id)| Door::Token { id, concert_id }))
    }

    /// A scan at the door: the code verified (signature, concert), then kept and decided by
    /// the database (admitted once; refused, or a conflict when it was made offline).
    pub async fn check_in(
        &self,
        door: &Door,
        concert_id: i64,
        input: ScanInput,
    ) -> Result<Checkin, CheckinError> {
        self.may_scan(door, concert_id).await?;
        let mut invalid = Vec::new();
        for (field, value) in [("deviceId", &input.device_id), ("nonce", &input.nonce)] {
            if value.as_ref().is_some_and(|v| v.is_empty() || v.chars().count() > 100) {
                invalid.push(FieldError { field: field.into(), message: "1 to 100 characters".into() });
            }
        }
        let now = Utc::now();
        if input.scanned_at.is_some_and(|at| at > now + Duration::minutes(5)) {
            invalid.push(FieldError {
                field: "scannedAt".into(),
                message: "a scan cannot come from the future".into(),
            });
        }
        if !invalid.is_empty() {
            return Err(ServiceError::from(Invalid(invalid)).into());
        }
        let claims = decode_and_verify(input.code.trim(), &self.verifying)
            .map_err(|e| CheckinError::InvalidCode(e.to_string()))?;
        if claims.concert_id != concert_id {
            return Err(CheckinError::InvalidCode("the code is of another concert".into()));
        }
        let scanned_at = input.scanned_at.unwrap_or(now).min(now);
        let (by_user, by_token) = match door {
            Door::Staff(caller) => (Some(caller.user_id), None),
            Door::Token { id, .. } => (None, Some(*id)),
        };
        let scan = Scan {
            concert_id,
            ticket_id: claims.ticket_id,
            version: i64::from(claims.version),
            scanned_at,
            received_at: now,
            offline: now - scanned_at > OFFLINE_AFTER,
            device_id: input.device_id,
            nonce: input.nonce,
            by_user,
            by_token,
        };
        let (reply, answer) = oneshot::channel();
        self.door
            .send((scan, reply))
            .map_err(|_| ServiceError::Other(anyhow::anyhow!("the door has closed")))?;
        let checkin = answer
            .await
            .map_err(|_| ServiceError::Other(anyhow::anyhow!("the door has closed")))??
            .ok_or_else(|| CheckinError::InvalidCode("no such ticket in this concert".into()))?;
        metrics::counter!("checkins_total", "result" => checkin.scan.result.as_str()).increment(1);
        Ok(checkin)
    }

    /// The public key, for a scanner of the concert.
    pub async fn door_key(&self, door: &Door, concert_id: i64) -> Result<String, ServiceError> {
        self.may_scan(door, concert_id).await?;
        Ok(self.public_key())
    }

    /// The concert's tickets for an offline scanner: all, or those changed since `since`.
    pub async fn door_list(
        &self,
        door: &Door,
        concert_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> Result<DoorList, ServiceError> {
        self.may_scan(door, concert_id).await?;
        let as_of = Utc::now() - SINCE_OVERLAP;
        let tickets = self.store.door_tickets(concert_id, since).await?;
        Ok(DoorList { as_of, tickets })
    }

    /// Admitted and sold per grade, and the conflicts reported.
    pub async fn stats(&self, door: &Door, concert_id: i64) -> Result<DoorStats, ServiceError> {
        self.may_scan(door, concert_id).await?;
        let (grades, conflicts) = self.store.checkin_stats(concert_id).await?;
        Ok(DoorStats { grades, conflicts })
    }

    /// The concert's scans in scan order (perhaps only one result), for its promoter.
    pub async fn checkins(
        &self,
        caller: &Principal,
        concert_id: i64,
        result: Option<CheckinResult>,
    ) -> Result<Vec<CheckinRecord>, ServiceError> {
        self.owned(caller, concert_id).await?;
        Ok(self.store.checkins(concert_id, result).await?)
    }

    /// Everyone holding a valid ticket, with their admission, for the promoter's export:
    /// the rows as the database sends them, a few hundred ahead of the reader at most (a
    /// task reads them; it stops when the reader is gone).
    pub async fn attendees(
        &self,
        caller: &Principal,
        concert_id: i64,
    ) -> Result<impl Stream<Item = Result<Attendee, StoreError>> + Send + 'static, ServiceError> {
        self.owned(caller, concert_id).await?;
        let (rows, read) = mpsc::channel(ATTENDEES_AHEAD);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut attendees = store.attendees(concert_id);
            while let Some(row) = attendees.next().await {
                let failed = row.is_err();
                if rows.send(row).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(futures_util::stream::unfold(
            read,
            |mut read| async move { read.recv().await.map(|row| (row, read)) },
        ))
    }

    /// A new check-in token for the concert's door staff: the secret is answered once.
    pub async fn create_token(
        &self,
        caller: &Principal,
        concert_id: i64,
        name: &str,
    ) -> Result<(CheckinTokenRecord, String), ServiceError> {
        self.owned(caller, concert_id).await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Invalid::field("name", "1 to 100 characters (e.g. the door it is for)").into());
        }
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!("{CHECKIN_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
        let record =
            self.store.create_checkin_token(concert_id, name, &token_hash(&token), caller.user_id).await?;
        Ok((record, token))
    }

    /// The concert's check-in tokens.
    pub async fn tokens(
        &self,
        caller: &Principal,
        concert_id: i64,
    ) -> Result<Vec<CheckinTokenRecord>, ServiceError> {
        self.owned(caller, concert_id).await?;
        Ok(self.store.checkin_tokens(concert_id).await?)
    }

    /// Revokes a check-in token: it checks in no more.
    pub async fn revoke_token(
        &self,
        caller: &Principal,
        concert_id: i64,
        id: i64,
    ) -> Result<(), ServiceError> {
        self.owned(caller, concert_id).await?;
        match self.store.revoke_checkin_token(concert_id, id, Utc::now()).await? {
            true => Ok(()),
            false => Err(ServiceError::NotFound("check-in token")),
        }
    }

    /// The promoter of the concert, or an administrator.
    async fn owned(&self, caller: &Principal, concert_id: i64) -> Result<(), ServiceError> {
        let concert = self.store.concert(concert_id).await?.ok_or(ServiceError::NotFound("concert"))?;
        ensure_owner(caller, concert.owner_id)
    }

    /// The concert's promoter, an administrator, or a token of this concert.
    async fn may_scan(&self, door: &Door, concert_id: i64) -> Result<(), ServiceError> {
        match door {
            Door::Staff(caller) => self.owned(caller, concert_id).await,
            Door::Token { concert_id: theirs, .. } if *theirs == concert_id => Ok(()),
            Door::Token { .. } => Err(ServiceError::Forbidden("this check-in token is for another concert")),
        }
    }
}

/// The door's writer: keeps and decides the scans that arrive, those that arrived together
/// in one go ([`crate::store::TicketStore::check_in_many`]: on SQLite one transaction and
/// one sync to disk for all of them, as the booking writer does for bookings), until the
/// service stops. An answer is sent only after its scan is committed.
async fn admit_forever(store: Arc<dyn Store>, mut scans: mpsc::UnboundedReceiver<Queued>) {
    let mut batch = Vec::with_capacity(SCANS_PER_BATCH);
    while scans.recv_many(&mut batch, SCANS_PER_BATCH).await > 0 {
        let (kept, replies): (Vec<Scan>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
        match store.check_in_many(&kept).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                tracing::warn!("keeping {} scans failed: {e}", replies.len());
                for reply in replies {
                    let _ =
                        reply.send(Err(StoreError::Other(anyhow::anyhow!("keeping the scan failed: {e}"))));
                }
            }
        }
    }
}

/// How a check-in token is stored: its SHA-256, hex.
fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
