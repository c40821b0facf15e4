//! Column table tests: fitting by priority and content, the tables in display order.

use super::*;
use crate::tui::present::columns::{MIN_SHRINK, fit};

#[test]
fn columns_fit_by_priority_and_shrink() {
    // One namespace: the namespace column is left out, as the port table does.
    let cols = &PORT_COLUMNS[1..];
    let specs: Vec<Spec> = cols.iter().map(|c| c.spec).collect();
    let natural: Vec<u16> = specs.iter().map(|s| s.head.len() as u16).collect();
    let filled = vec![true; specs.len()];
    let all = fit(&specs, &natural, &filled, 200);
    assert_eq!(all.len(), cols.len());
    let narrow = fit(&specs, &natural, &filled, 30);
    let kept: Vec<PortCol> = narrow.iter().map(|(i, _)| cols[*i].col).collect();
    assert_eq!(kept, vec![PortCol::Proto, PortCol::Endpoint, PortCol::Sockets, PortCol::Established]);
    let mut wide = natural.clone();
    wide[1] = 60;
    let squeezed = fit(&specs, &wide, &filled, 40);
    let used: u16 = squeezed.iter().map(|(_, w)| w + 1).sum();
    assert!(used <= 40, "{squeezed:?}");
    assert_eq!(squeezed[1].0, 1);
    assert!(squeezed[1].1 < 60 && squeezed[1].1 >= MIN_SHRINK, "the endpoint gives up what the screen lacks");
}

fn port_cols(natural: &[(PortCol, u16)], empty: &[PortCol], width: u16) -> Vec<(PortCol, u16)> {
    let cols = &PORT_COLUMNS[1..];
    let specs: Vec<Spec> = cols.iter().map(|c| c.spec).collect();
    let widths: Vec<u16> = (cols.iter())
        .map(|c| natural.iter().find(|n| n.0 == c.col).map_or(c.spec.head.len() as u16 + 1, |n| n.1))
        .collect();
    let filled: Vec<bool> = cols.iter().map(|c| !empty.contains(&c.col)).collect();
    fit(&specs, &widths, &filled, width).into_iter().map(|(i, w)| (cols[i].col, w)).collect()
}

/// Regression: the Process column (priority 1) was squeezed to 16-19 characters (`wrk 40, +3`) while
/// Service and Class (priority 3 and 4) kept their room. The more important column gets its width first.
#[test]
fn the_process_column_gets_its_width_before_less_important_columns() {
    let natural = [(PortCol::Endpoint, 21), (PortCol::Service, 9), (PortCol::Process, 40), (PortCol::Trend, 10)];
    let got = port_cols(&natural, &[], 120);
    let used: u16 = got.iter().map(|(_, w)| w + 1).sum();
    assert!(used <= 120, "{got:?}");
    assert!(got.contains(&(PortCol::Process, 40)), "the process list whole: {got:?}");
    assert!(!got.iter().any(|c| c.0 == PortCol::Class || c.0 == PortCol::Service), "{got:?}");
    // With room for everything, everything stays.
    assert_eq!(port_cols(&natural, &[], 200).len(), PortCol::ALL.len() - 1);
}

/// Regression: at 80 columns an empty T-WAIT column stayed while C-WAIT with 200 sockets was dropped.
#[test]
fn an_empty_count_column_yields_to_one_with_content() {
    let natural = [(PortCol::Endpoint, 21), (PortCol::Process, 12), (PortCol::Trend, 10)];
    let got: Vec<PortCol> = port_cols(&natural, &[PortCol::TimeWait], 84).into_iter().map(|c| c.0).collect();
    assert!(got.contains(&PortCol::CloseWait) && !got.contains(&PortCol::TimeWait), "{got:?}");
    let got: Vec<PortCol> = port_cols(&natural, &[PortCol::CloseWait], 84).into_iter().map(|c| c.0).collect();
    assert!(got.contains(&PortCol::TimeWait) && !got.contains(&PortCol::CloseWait), "{got:?}");
    // An empty column still shows when there is room for it.
    assert_eq!(port_cols(&natural, &[PortCol::TimeWait], 200).len(), PortCol::ALL.len() - 1);
}

#[test]
fn each_column_table_is_in_display_order() {
    assert!(PORT_COLUMNS.iter().map(|c| c.col).eq(PortCol::ALL));
    assert!(SOCK_COLUMNS.iter().map(|c| c.col).eq(SockCol::ALL));
}
