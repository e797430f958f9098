//! Demo data: a promoter, two halls, an arena and a few upcoming concerts, so a newcomer
//! sees a living service at once. Loading twice adds nothing twice.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{Duration, Utc};

use crate::auth::password;
use crate::domain::sections::{Layout, RowLabel, Section, SectionKind, SectionName};
use crate::domain::user::Role;
use crate::domain::venue::{AuditoriumSpec, Checkout, ConcertSpec, DEFAULT_HOLD_MINUTES, Letter, Price};
use crate::store::{AuditoriumRecord, NewUser, Store};

/// The demo promoter's login.
pub const PROMOTER: (&str, &str) = ("demo-promoter", "Demo#Promoter1");

fn letter(c: char) -> anyhow::Result<Letter> {
    Letter::parse(&c.to_string()).map_err(|e| anyhow::anyhow!(e))
}

/// (name, venue index, days from now, [(grade, price)], [(first row, last row, grade)])
type DemoConcert =
    (&'static str, usize, i64, &'static [(char, f64)], &'static [(char, char, char)], Checkout);

/// The arena's sections: a standing floor of 5,000 and three seated tiers whose rows grow
/// longer towards the back (rows `1`..`40`), 20,540 places in all, with each one's grade.
fn arena_layout() -> anyhow::Result<(Layout, Vec<(SectionName, char)>)> {
    let name = |n: &str| SectionName::parse(n).map_err(|e| anyhow::anyhow!(e));
    let tier = |first: u32| -> anyhow::Result<SectionKind> {
        (1..=40u32)
            .map(|row| {
                Ok((RowLabel::parse(&row.to_string()).map_err(|e| anyhow::anyhow!(e))?, first + row - 1))
            })
            .collect::<anyhow::Result<_>>()
            .map(SectionKind::Seated)
    };
    let sections = vec![
        (Section { name: name("Floor")?, kind: SectionKind::Standing(5000) }, 'G'),
        (Section { name: name("Lower Tier")?, kind: tier(100)? }, 'R'),
        (Section { name: name("Middle Tier")?, kind: tier(110)? }, 'S'),
        (Section { name: name("Upper Tier")?, kind: tier(120)? }, 'A'),
    ];
    let grades = sections.iter().map(|(s, grade)| (s.name, *grade)).collect();
    Ok((Layout { sections: sections.into_iter().map(|(s, _)| s).collect() }, grades))
}

/// The arena and its concert, unless there already; whether the concert was added.
async fn arena(store: &dyn Store, promoter_id: i64, existing: &[AuditoriumRecord]) -> anyhow::Result<bool> {
    const VENUE: &str = "Seoul Arena";
    const CONCERT: &str = "Arena Tour 2027";
    let (layout, grades) = arena_layout()?;
    let venue_id = match existing.iter().find(|a| a.name == VENUE) {
        Some(a) => a.id,
        None => {
            let spec = AuditoriumSpec {
                name: VENUE.into(),
                address: "25 Olympic-ro, Songpa-gu, Seoul".into(),
                layout: layout.clone(),
                seed: None,
            };
            store.create_auditorium(promoter_id, &spec).await?.id
        }
    };
    let (listed, _) = store.list_concerts(0, 10_000).await?;
    if listed.iter().any(|c| c.name == CONCERT) {
        return Ok(false);
    }
    let mut rows = BTreeMap::new();
    for (section, grade) in &grades {
        let rows_of = layout.section(*section).context("an arena section")?.rows();
        for (label, _) in rows_of {
            rows.insert((*section, label), letter(*grade)?);
        }
    }
    let price = |amount: f64| Price::parse(amount).map_err(|e| anyhow::anyhow!(e));
    let spec = ConcertSpec {
        name: CONCERT.into(),
        description: "A demo arena concert: a standing floor and three seated tiers.".into(),
        start_time: Utc::now() + Duration::days(75),
        auditorium_id: venue_id,
        max_seats_per_fan: 4,
        sales_open_at: None,
        sales_close_at: None,
        checkout: Checkout::Direct,
        hold_minutes: DEFAULT_HOLD_MINUTES,
        currency: None,
        waiting_room: None,
        prices: BTreeMap::from([
            (letter('G')?, price(110000.0)?),
            (letter('R')?, price(154000.0)?),
            (letter('S')?, price(121000.0)?),
            (letter('A')?, price(88000.0)?),
        ]),
        rows,
    };
    store.create_concert(&spec).await?;
    Ok(true)
}

/// Loads whatever of the demo data is missing; returns a one-line summary.
pub async fn load(store: &dyn Store) -> anyhow::Result<String> {
    let promoter = match store.user_by_username(PROMOTER.0).await? {
        Some(user) => user,
        None => store
            .create_user(&NewUser {
                username: PROMOTER.0.into(),
                password_hash: password::hash(PROMOTER.1.into()).await?,
                email: "demo-promoter@example.com".into(),
                nickname: Some("Demo Live".into()),
                role: Role::CompanyUser,
            })
            .await
            .context("creating the demo promoter")?,
    };
    let venues = [
        ("Olympic Hall", "424 Olympic-ro, Songpa-gu, Seoul", 'T', 40),
        ("Blue Square", "294 Itaewon-ro, Yongsan-gu, Seoul", 'J', 30),
    ];
    let existing = store.list_auditoriums(Some(promoter.id)).await?;
    let mut venue_ids = Vec::new();
    for (name, address, max_row, max_column) in venues {
        let id = match existing.iter().find(|a| a.name == name) {
            Some(a) => a.id,
            None => {
                let spec = AuditoriumSpec {
                    name: name.into(),
                    address: address.into(),
                    layout: Layout::seed(letter(max_row)?, max_column),
                    seed: Some((letter(max_row)?, max_column)),
                };
                store.create_auditorium(promoter.id, &spec).await?.id
            }
        };
        venue_ids.push((id, letter(max_row)?));
    }
    let arena = arena(store, promoter.id, &existing).await?;
    let concerts: [DemoConcert; 4] = [
        // Held until paid: at the box office or by bank transfer (the manual provider).
        // First, so that the newest concert stays the seed's kind.
        (
            "Autumn Strings (pay to confirm)",
            0,
            90,
            &[('R', 140000.0), ('A', 80000.0)],
            &[('A', 'H', 'R'), ('I', 'T', 'A')],
            Checkout::Payment,
        ),
        (
            "Spring Night Live",
            0,
            30,
            &[('R', 165000.0), ('S', 132000.0), ('A', 99000.0)],
            &[('A', 'E', 'R'), ('F', 'L', 'S'), ('M', 'T', 'A')],
            Checkout::Direct,
        ),
        (
            "Indie Weekend",
            1,
            45,
            &[('S', 88000.0), ('A', 66000.0)],
            &[('A', 'D', 'S'), ('E', 'J', 'A')],
            Checkout::Direct,
        ),
        (
            "Jazz by the River",
            1,
            60,
            &[('R', 120000.0), ('A', 70000.0)],
            &[('A', 'C', 'R'), ('D', 'J', 'A')],
            Checkout::Direct,
        ),
    ];
    let (listed, _) = store.list_concerts(0, 10_000).await?;
    let mut created = 0;
    for (name, venue, days, prices, rows, checkout) in concerts {
        if listed.iter().any(|c| c.name == name) {
            continue;
        }
        let (auditorium_id, max_row) = venue_ids[venue];
        let mut spec_rows = BTreeMap::new();
        for &(first, last, grade) in rows {
            for row in letter(first)?.index()..=letter(last)?.index().min(max_row.index()) {
                let row = RowLabel::from(Letter::from_index(row).context("row letter")?);
                spec_rows.insert((SectionName::SEED, row), letter(grade)?);
            }
        }
        let spec = ConcertSpec {
            name: name.into(),
            description: format!("{name}: a demo concert."),
            start_time: Utc::now() + Duration::days(days),
            auditorium_id,
            max_seats_per_fan: 4,
            sales_open_at: None,
            sales_close_at: None,
            checkout,
            hold_minutes: DEFAULT_HOLD_MINUTES,
            currency: None,
            waiting_room: None,
            prices: prices
                .iter()
                .map(|&(g, p)| Ok((letter(g)?, Price::parse(p).map_err(|e| anyhow::anyhow!(e))?)))
                .collect::<anyhow::Result<_>>()?,
            rows: spec_rows,
        };
        store.create_concert(&spec).await?;
        created += 1;
    }
    Ok(format!(
        "demo data ready: promoter {:?} (password {:?}), {} venues, {} concert(s) added",
        PROMOTER.0,
        PROMOTER.1,
        venue_ids.len() + 1,
        created + usize::from(arena)
    ))
}
