//! `Publisher::into_scalar`: the sources that know their one signal without being
//! subscribed hand it over; every other publisher gives itself back unchanged.

use std::convert::Infallible;

use spillway_core::prelude::*;
use spillway_core::{Error, Scalar};

#[test]
fn just_empty_and_error_are_scalars() {
    assert_eq!(just(5u8).into_scalar().ok(), Some(Scalar::Item(5)));
    assert_eq!(
        empty::<u8, Infallible>().into_scalar().ok(),
        Some(Scalar::Empty)
    );
    assert_eq!(
        error::<u8, _>("no").into_scalar().ok(),
        Some(Scalar::Error(Error::User("no")))
    );
}

#[test]
fn other_publishers_give_themselves_back_intact() {
    let back = range(3, 6)
        .into_scalar()
        .expect_err("a range is not a scalar");
    let items = futures::executor::block_on(back.collect()).unwrap();
    assert_eq!(
        items,
        vec![3, 4, 5],
        "handed back unchanged, still subscribable"
    );
    assert!(from_iter(vec![1]).into_scalar().is_err());
    assert!(
        defer(|| just(1)).into_scalar().is_err(),
        "defer's factory runs at subscribe"
    );
    assert!(never::<u8, Infallible>().into_scalar().is_err());
}

#[test]
fn scalar_map_keeps_empty_and_error() {
    assert_eq!(Scalar::<u8, ()>::Item(2).map(u16::from), Scalar::Item(2u16));
    assert_eq!(Scalar::<u8, ()>::Empty.map(u16::from), Scalar::Empty);
    assert_eq!(
        Scalar::<u8, &str>::Error(Error::User("e")).map(u16::from),
        Scalar::Error(Error::User("e"))
    );
}
