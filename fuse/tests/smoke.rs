mod common;
use common::*;

#[test]
fn cat_records_read() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("a.txt", "hello\n");
    let (out, fin) = fx.run("cat a.txt; pwd");
    eprintln!("{:?} {}", out, fx.tracer().passthrough());
    eprintln!("{:?}", fin.log);
    assert!(out.status.success());
    assert_eq!(fin.log.reads, set(&["a.txt"]));
}
