//! Everyday build tools through the mount, each the way it really writes
//! its output (temp file and rename, in-place edits, mmap, archives).

mod common;

use common::{set, Fixture};

#[test]
fn archives_links_and_in_place_edits() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("a.c", "int a(void) { return 1; }\n");
    fx.write("m.c", "int a(void);\nint main(void) { return a() - 1; }\n");
    fx.write("list.txt", "b\na\n");
    let fin = fx.run_ok("gcc -c a.c -o a.o && ar rcs liba.a a.o && ranlib liba.a && \
         gcc m.c liba.a -o prog && ./prog && \
         gcc -fuse-ld=gold m.c a.o -o prog2 && ./prog2 && \
         sort list.txt -o sorted.txt && sed -i 's/a/A/' sorted.txt && \
         tar cf t.tar a.c list.txt && tar tf t.tar > t.lst && \
         install -m 755 prog prog3 && cp -p list.txt copy.txt && \
         ln -sf prog3 link && ln -sf prog link && touch -r a.c copy.txt && \
         python3 -c \"import zipfile; z = zipfile.ZipFile('z.zip', 'w'); z.write('a.c'); z.close()\" && \
         python3 -c \"import os, tempfile; fd, p = tempfile.mkstemp(dir='.'); os.write(fd, b'x'); os.close(fd); os.replace(p, 'r.txt')\"",
    );
    assert_eq!(
        fin.log.writes,
        set(&[
            "a.o",
            "copy.txt",
            "liba.a",
            "link",
            "prog",
            "prog2",
            "prog3",
            "r.txt",
            "sorted.txt",
            "t.lst",
            "t.tar",
            "z.zip"
        ])
    );
    assert_eq!(fin.log.reads, set(&["a.c", "list.txt", "m.c"]));
    assert!(fin.log.refused.is_empty(), "{:?}", fin.log.refused);
    assert!(fin.log.dirs_made.is_empty(), "{:?}", fin.log.dirs_made);
}

#[test]
fn tools_that_rewrite_a_large_file_in_place() {
    let Some(fx) = Fixture::new() else { return };
    let lines: String = (0..20000).rev().map(|i| format!("{i:08}\n")).collect();
    fx.write("big.txt", &lines);
    let fin = fx.run_ok(
        "sort -o big.txt big.txt && head -c 9 big.txt && \
         sed -i 's/^0/x/' big.txt && perl -pi -e 's/^x/y/' big.txt && \
         python3 -c \"f = open('big.txt', 'r+'); d = f.read(); f.seek(0); f.write(d.upper())\"",
    );
    assert_eq!(fin.log.writes, set(&["big.txt"]));
    let text = std::fs::read_to_string(fx.root().join("big.txt")).unwrap();
    assert_eq!(text, lines, "staged, not in the tree");
    fin.pending.commit(&|_| true).unwrap();
    let text = std::fs::read_to_string(fx.root().join("big.txt")).unwrap();
    assert_eq!(&text[..18], "Y0000000\nY0000001\n");
}
