//! Tickets at the door: what a ticket is now, and what the door answered a scan.

/// Whether a ticket's codes open the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    /// Confirmed: its code of the current version is admitted once.
    Valid,
    /// Cancelled: every code of it is refused.
    Revoked,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Valid => "VALID",
            TicketStatus::Revoked => "REVOKED",
        }
    }
}

/// What the door answered one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckinResult {
    /// The holder went in: once per ticket.
    Admitted,
    /// Refused at the door: the ticket was admitted before.
    AlreadyCheckedIn,
    /// A second admission made offline, reported later: both went in.
    Conflict,
    /// The code was cancelled or replaced by a transfer.
    TicketRevoked,
}

impl CheckinResult {
    pub const ALL: [CheckinResult; 4] = [
        CheckinResult::Admitted,
        CheckinResult::AlreadyCheckedIn,
        CheckinResult::Conflict,
        CheckinResult::TicketRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckinResult::Admitted => "ADMITTED",
            CheckinResult::AlreadyCheckedIn => "ALREADY_CHECKED_IN",
            CheckinResult::Conflict => "CONFLICT",
            CheckinResult::TicketRevoked => "TICKET_REVOKED",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| format!("unknown check-in result {raw:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::CheckinResult;

    #[test]
    fn check_in_results_read_back_as_written() {
        for result in CheckinResult::ALL {
            assert_eq!(CheckinResult::parse(result.as_str()), Ok(result));
        }
        assert!(CheckinResult::parse("admitted").is_err());
    }
}
