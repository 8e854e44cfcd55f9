//! The check of the tree takes an unmoved directory's listing from
//! `.tupfs/listings` (src/listings.rs): a name that appears later is still
//! seen, whatever the cache says, and a damaged cache lists everything.

mod harness;

use harness::Project;

fn globbing() -> Project {
    let cat = ": foreach *.in |> cat %f > %o |> %B.out\n";
    let p = Project::new()
        .file("a/x.in", "x\n")
        .file("a/Tupfile", cat)
        .file("b/y.in", "y\n")
        .file("b/Tupfile", cat);
    p.build(&[]).success();
    // Two no-ops: the first lists every directory and remembers them,
    // the second takes them from the cache.
    p.build(&[]).success().ran_nothing();
    p.build(&[]).success().ran_nothing();
    p
}

#[test]
fn a_new_source_file_is_seen_after_listings_were_cached() {
    require_fuse!();
    let p = globbing();
    assert!(
        p.path(".tupfs/listings").exists(),
        "the listings were remembered"
    );
    p.write("b/z.in", "z\n");
    p.build(&[]).success().ran_exactly(&["cat z.in > z.out"]);
    p.build(&[]).success().ran_nothing();
    p.remove("a/x.in");
    p.build(&[]).success().ran_nothing();
    assert!(!p.path("a/x.out").exists(), "the glob lost x.in\n");
}

#[test]
fn a_damaged_listings_file_is_listing_everything_again() {
    require_fuse!();
    let p = globbing();
    let cache = p.path(".tupfs/listings");
    let mut bytes = std::fs::read(&cache).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&cache, &bytes).unwrap();
    p.write("a/w.in", "w\n");
    p.build(&[]).success().ran_exactly(&["cat w.in > w.out"]);
    std::fs::write(&cache, b"junk").unwrap();
    p.build(&[]).success().ran_nothing();
    assert_ne!(
        std::fs::read(&cache).unwrap(),
        b"junk",
        "listed and rewritten"
    );
}
