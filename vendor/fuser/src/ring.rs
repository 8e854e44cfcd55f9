//! FUSE over io_uring (Linux 6.14+, `fs/fuse/dev_uring.c`): one queue per
//! possible CPU, each served by its own thread pinned to that CPU.
//!
//! Why: with `/dev/fuse` every request costs the daemon a `read` and a
//! `writev`, and the thread that serves it usually runs on another CPU than
//! the requester, so each request is two cross-CPU wake-ups. The kernel puts
//! an io_uring request on the queue of the CPU the requester runs on; the
//! thread serving that queue sits on the same CPU, so the request is a local
//! context switch, and the reply and the wait for the next request are one
//! `io_uring_enter`.
//!
//! Protocol (kernel ABI 7.42): after INIT negotiated `FUSE_OVER_IO_URING`,
//! each queue registers entries (`FUSE_IO_URING_CMD_REGISTER`, an SQE128
//! `IORING_OP_URING_CMD` on the `/dev/fuse` fd whose address is two iovecs:
//! a header area and a payload buffer). A completion means the kernel wrote a
//! request into the entry; the reply goes back into the same buffers with
//! `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`, which also re-arms the entry. The
//! kernel sends no request through io_uring until every queue has an entry,
//! and until then (or if registering fails) requests keep coming through
//! `/dev/fuse`; interrupts, forgets and notifications always do.
//!
//! Requests are put back into the classic wire layout (`fuse_in_header`,
//! the operation's header, the payload) and dispatched like any other, with
//! a [`ReplySlot`] as the reply channel.

use std::io;
use std::io::IoSlice;
use std::sync::Arc;
use std::sync::Condvar;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

/// Where the reply to one io_uring request is collected: the reply objects
/// (`ReplyEntry` etc.) write here instead of to `/dev/fuse`, possibly from
/// another thread, and the queue thread waits for it before committing.
#[derive(Debug, Default)]
pub(crate) struct ReplySlot {
    state: Mutex<SlotState>,
    filled: Condvar,
}

#[derive(Debug, Default)]
struct SlotState {
    /// The reply, once given.
    reply: Option<Vec<u8>>,
    /// The queue thread waits for a reply given later (from another
    /// thread). Replies are nearly always given during dispatch, and a
    /// condvar notify costs a futex syscall even with nobody waiting.
    waiting: bool,
    /// A buffer kept from the last reply, to fill without allocating.
    spare: Vec<u8>,
}

impl ReplySlot {
    /// Store a reply (`fuse_out_header` then the reply arguments).
    pub(crate) fn fill(&self, bufs: &[IoSlice<'_>]) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut reply = std::mem::take(&mut state.spare);
        reply.clear();
        for b in bufs {
            reply.extend_from_slice(b);
        }
        state.reply = Some(reply);
        if state.waiting {
            self.filled.notify_one();
        }
    }

    /// Wait for the reply and pass it to `put`, leaving the slot empty.
    fn take<R>(&self, put: impl FnOnce(&[u8]) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let reply = loop {
            if let Some(reply) = state.reply.take() {
                break reply;
            }
            state.waiting = true;
            state = self.filled.wait(state).unwrap_or_else(|e| e.into_inner());
        };
        state.waiting = false;
        let result = put(&reply);
        state.spare = reply;
        result
    }
}

/// Requests served through io_uring, counted per queue (one shared counter
/// would bounce its cache line between the CPUs on every request), and
/// whether io_uring was given up for `/dev/fuse`.
#[derive(Debug)]
pub(crate) struct Served {
    queues: Vec<PerQueue>,
    given_up: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct PerQueue(std::sync::atomic::AtomicU64);

impl Served {
    fn new(queues: usize) -> Served {
        Served {
            queues: (0..queues).map(|_| PerQueue::default()).collect(),
            given_up: Default::default(),
        }
    }

    fn add_one(&self, qid: u16) {
        let n = &self.queues[usize::from(qid)].0;
        // One writer per counter: no read-modify-write needed.
        n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The kernel serves the connection through `/dev/fuse` after all.
    fn give_up(&self) {
        self.given_up.store(true, Ordering::Relaxed);
    }

    /// All requests served so far, or `None` once io_uring was given up.
    pub(crate) fn total(&self) -> Option<u64> {
        if self.given_up.load(Ordering::Relaxed) {
            return None;
        }
        Some(
            self.queues
                .iter()
                .map(|n| n.0.load(Ordering::Relaxed))
                .sum(),
        )
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::{Rings, spawn};

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    use std::alloc::Layout;
    use std::os::fd::AsRawFd;
    use std::thread;
    use std::thread::JoinHandle;

    use io_uring::IoUring;
    use io_uring::cqueue;
    use io_uring::opcode;
    use io_uring::squeue;
    use io_uring::types;
    use log::debug;
    use log::error;
    use log::trace;
    use log::warn;

    use crate::Filesystem;
    use crate::channel::ChannelSender;
    use crate::dev_fuse::DevFuse;
    use crate::reply::ReplyEmpty;
    use crate::request::RequestWithSender;
    use crate::session::SessionEventLoop;

    /// `fuse_opcode::FUSE_DESTROY`.
    const FUSE_DESTROY: u32 = 38;
    /// `enum fuse_uring_cmd`.
    const CMD_REGISTER: u32 = 1;
    const CMD_COMMIT_AND_FETCH: u32 = 2;
    /// `struct fuse_uring_req_header`: `in_out` (the in or out header),
    /// `op_in` (the operation's own header), then `fuse_uring_ent_in_out`.
    const OP_IN_OFFSET: usize = 128;
    const OP_IN_SIZE: usize = 128;
    const ENT_IN_OUT_OFFSET: usize = 256;
    /// `fuse_uring_ent_in_out.payload_sz`, after `flags` and `commit_id`.
    const PAYLOAD_SZ_OFFSET: usize = ENT_IN_OUT_OFFSET + 16;
    const HEADER_SIZE: usize = 288;
    const IN_HEADER_SIZE: usize = 40;
    const OUT_HEADER_SIZE: usize = 16;
    /// Room kept in front of each payload buffer so that a request can be
    /// laid out contiguously (in header, op header, payload) without copying
    /// the payload.
    const PREFIX: usize = IN_HEADER_SIZE + OP_IN_SIZE + 88;
    /// Entries per queue: one being served, more ready for the next request
    /// from the same CPU.
    const DEPTH: u32 = 4;

    /// The io_uring instances, one per queue, made before INIT is answered
    /// so that asking the kernel for io_uring can never leave it waiting for
    /// queues that cannot be made.
    pub(crate) struct Rings {
        rings: Vec<IoUring<squeue::Entry128, cqueue::Entry>>,
        payload_size: usize,
        served: Arc<Served>,
    }

    impl std::fmt::Debug for Rings {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Rings({} queues)", self.rings.len())
        }
    }

    impl Rings {
        /// One ring per possible CPU (the kernel's queue count), each
        /// disabled until its thread enables it and so becomes its only
        /// submitter. `payload_size`: at least the kernel's largest request
        /// (max of 8 KiB, `max_write` and `max_pages` pages).
        pub(crate) fn create(payload_size: usize) -> io::Result<Rings> {
            let n = possible_cpus()?;
            let mut rings = Vec::with_capacity(n);
            for _ in 0..n {
                rings.push(
                    // Not DEFER_TASKRUN: its work runs only when the thread
                    // enters the ring again, so a request handed to a thread
                    // that dies first (SIGKILL while it waits in a handler)
                    // would never end, not even on abort, and a thread of
                    // ours waiting on it would keep the process alive for
                    // good (tests/self_deadlock.rs). Plain task work runs at
                    // thread exit and cancels it.
                    IoUring::<squeue::Entry128, cqueue::Entry>::builder()
                        .setup_r_disabled()
                        .setup_single_issuer()
                        .setup_coop_taskrun()
                        .build(DEPTH * 2)?,
                );
            }
            Ok(Rings {
                rings,
                payload_size,
                served: Arc::new(Served::new(n)),
            })
        }

        /// Counts the requests served through io_uring.
        pub(crate) fn served(&self) -> Arc<Served> {
            self.served.clone()
        }
    }

    /// Start one thread per queue; each ends when the connection does. If
    /// a queue cannot be started, the kernel is told to use `/dev/fuse`.
    pub(crate) fn spawn<FS: Filesystem>(
        mut rings: Rings,
        event_loop: impl Fn(String) -> SessionEventLoop<FS>,
        dev: Arc<DevFuse>,
    ) -> Vec<JoinHandle<io::Result<()>>> {
        let mut threads = Vec::new();
        let queues = std::mem::take(&mut rings.rings);
        for (qid, ring) in queues.into_iter().enumerate() {
            let se = event_loop(format!("fuser-ring-{qid}"));
            let started = Queue::new(qid as u16, ring, se, &rings, &dev).and_then(Queue::start);
            match started {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    warn!("io_uring queue {qid}: {e}");
                    give_up(&dev, &rings.served);
                    break;
                }
            }
        }
        threads
    }

    /// Tell the kernel not to wait for our queues (it holds every request
    /// until all are registered): a registration it refuses, with a queue
    /// id out of range, makes it serve the connection through `/dev/fuse`.
    fn give_up(dev: &DevFuse, served: &Served) {
        served.give_up();
        let refused = (|| {
            let mut ring = IoUring::<squeue::Entry128, cqueue::Entry>::builder().build(2)?;
            let sqe = opcode::UringCmd80::new(types::Fd(dev.as_raw_fd()), CMD_REGISTER)
                .cmd(cmd_req(u16::MAX, 0))
                .build();
            // SAFETY: the command carries no buffer.
            unsafe { ring.submission().push(&sqe) }
                .map_err(|_| io::Error::other("submission queue full"))?;
            ring.submit_and_wait(1)?;
            Ok::<_, io::Error>(ring.completion().next().map(|c| c.result()))
        })();
        match refused {
            Ok(Some(res)) if res < 0 => warn!("FUSE over io_uring given up: /dev/fuse serves"),
            other => error!("FUSE over io_uring could not be given up: {other:?}"),
        }
    }

    /// Possible CPUs, as the kernel counts its queues (`num_possible_cpus`).
    fn possible_cpus() -> io::Result<usize> {
        let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
        let mut n = 0;
        for range in text.trim().split(',') {
            let mut ends = range.split('-').map(|x| x.trim().parse::<usize>());
            let (first, last) = match (ends.next(), ends.next()) {
                (Some(Ok(a)), None) => (a, a),
                (Some(Ok(a)), Some(Ok(b))) => (a, b),
                _ => return Err(io::Error::other(format!("cpu list {text:?}"))),
            };
            n = n.max(last + 1).max(first + 1);
        }
        Ok(n)
    }

    /// Keep a queue's thread on the CPU whose requests it serves. A CPU
    /// that is offline cannot be pinned to; its (idle) queue runs anywhere.
    fn pin_to_cpu(cpu: usize) {
        // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays in bounds for
        // cpu < CPU_SETSIZE, checked first.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if cpu >= libc::CPU_SETSIZE as usize {
                return;
            }
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
                debug!(
                    "io_uring queue {cpu}: not pinned: {}",
                    io::Error::last_os_error()
                );
            }
        }
    }

    /// Make this thread SCHED_BATCH: same share of the CPU as any normal
    /// thread, but waking it does not preempt the running task. A command's
    /// asynchronous requests (RELEASE after close) then wait until it blocks
    /// on its next synchronous one, and both are served in one switch
    /// instead of two switches each (measured: 3 context switches per
    /// open+close instead of 2).
    fn no_wakeup_preemption() {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscall on the calling thread with a valid param.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
            debug!(
                "io_uring queue: not SCHED_BATCH: {}",
                io::Error::last_os_error()
            );
        }
    }

    /// One registered entry: a header area and a payload buffer the kernel
    /// writes requests into and reads replies from. The memory is shared
    /// with the kernel, which touches an entry only while a command on it is
    /// pending (from our submission to its completion, which we see only
    /// after the kernel's writes), and we touch it only in between.
    struct RingEntry {
        header: *mut u8,
        payload: *mut u8,
        payload_size: usize,
        iov: Box<[libc::iovec; 2]>,
        live: bool,
    }

    // SAFETY: the buffers are owned by the entry and used by one thread.
    unsafe impl Send for RingEntry {}

    impl RingEntry {
        fn new(payload_size: usize) -> io::Result<RingEntry> {
            // SAFETY: non-zero sizes; freed with the same layouts in Drop.
            let (header, payload) = unsafe {
                (
                    std::alloc::alloc_zeroed(Self::header_layout()),
                    std::alloc::alloc_zeroed(Self::payload_layout(payload_size)),
                )
            };
            if header.is_null() || payload.is_null() {
                return Err(io::Error::from(io::ErrorKind::OutOfMemory));
            }
            let iov = Box::new([
                libc::iovec {
                    iov_base: header.cast(),
                    iov_len: HEADER_SIZE,
                },
                libc::iovec {
                    // SAFETY: PREFIX is inside the allocation.
                    iov_base: unsafe { payload.add(PREFIX) }.cast(),
                    iov_len: payload_size,
                },
            ]);
            Ok(RingEntry {
                header,
                payload,
                payload_size,
                iov,
                live: true,
            })
        }

        fn header_layout() -> Layout {
            Layout::from_size_align(HEADER_SIZE, 16).expect("constant layout")
        }

        fn payload_layout(payload_size: usize) -> Layout {
            // Alignment 16, not a page: larger alignments make the allocator
            // zero (and so commit) the whole buffer instead of taking fresh
            // zero pages from the kernel.
            Layout::from_size_align(PREFIX + payload_size, 16).expect("payload layout")
        }

        fn header(&mut self) -> &mut [u8] {
            // SAFETY: HEADER_SIZE bytes owned by this entry; see the type doc.
            unsafe { std::slice::from_raw_parts_mut(self.header, HEADER_SIZE) }
        }

        /// The payload buffer with the prefix room in front of it.
        fn payload(&mut self) -> &mut [u8] {
            // SAFETY: as `header`.
            unsafe { std::slice::from_raw_parts_mut(self.payload, PREFIX + self.payload_size) }
        }
    }

    impl Drop for RingEntry {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with these layouts.
            unsafe {
                std::alloc::dealloc(self.header, Self::header_layout());
                std::alloc::dealloc(self.payload, Self::payload_layout(self.payload_size));
            }
        }
    }

    /// A command's argument, `struct fuse_uring_cmd_req { u64 flags;
    /// u64 commit_id; u16 qid; u8 pad[6]; }`, in the SQE128 command area.
    fn cmd_req(qid: u16, commit_id: u64) -> [u8; 80] {
        let mut cmd = [0u8; 80];
        cmd[8..16].copy_from_slice(&commit_id.to_ne_bytes());
        cmd[16..18].copy_from_slice(&qid.to_ne_bytes());
        cmd
    }

    /// `sqe->len`, which the builder has no setter for: the kernel wants the
    /// number of iovecs (2) there.
    fn with_len(sqe: squeue::Entry128, len: u32) -> squeue::Entry128 {
        const _: () = assert!(size_of::<squeue::Entry128>() == 128);
        // SAFETY: Entry128 is repr(C): a 64-byte io_uring_sqe (`len` is the
        // u32 at offset 24) then 64 bytes of command; any bytes are valid.
        let mut raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
        raw[24..28].copy_from_slice(&len.to_ne_bytes());
        unsafe { std::mem::transmute::<[u8; 128], squeue::Entry128>(raw) }
    }

    /// The request in `entry` in the classic wire layout (in header, the
    /// operation's header, the payload), in place in front of the payload
    /// when that is 8-aligned, else copied into `scratch`. A malformed entry
    /// gives `Err(unique)`.
    fn lay_out<'a>(
        entry: &'a mut RingEntry,
        scratch: &'a mut Vec<u64>,
    ) -> Result<(u64, &'a [u8]), u64> {
        let max_payload = entry.payload_size;
        let header = entry.header();
        let unique = u64::from_ne_bytes(header[8..16].try_into().expect("8 bytes"));
        let len = u32::from_ne_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let payload_sz = u32::from_ne_bytes(
            header[PAYLOAD_SZ_OFFSET..][..4]
                .try_into()
                .expect("4 bytes"),
        ) as usize;
        let op_len = len.wrapping_sub(IN_HEADER_SIZE + payload_sz);
        if op_len > OP_IN_SIZE || payload_sz > max_payload {
            error!("io_uring request: len {len}, payload {payload_sz}");
            return Err(unique);
        }
        let mut parts = [0u8; IN_HEADER_SIZE + OP_IN_SIZE];
        parts[..IN_HEADER_SIZE].copy_from_slice(&header[..IN_HEADER_SIZE]);
        parts[IN_HEADER_SIZE..][..op_len].copy_from_slice(&header[OP_IN_OFFSET..][..op_len]);
        let parts = &parts[..IN_HEADER_SIZE + op_len];
        let start = PREFIX - parts.len();
        let payload = entry.payload();
        if start % 8 == 0 {
            payload[start..PREFIX].copy_from_slice(parts);
            return Ok((unique, &payload[start..PREFIX + payload_sz]));
        }
        scratch.clear();
        scratch.resize(len.div_ceil(8), 0);
        // SAFETY: the u64 buffer viewed as bytes; it holds at least `len`.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(scratch.as_mut_ptr().cast::<u8>(), scratch.len() * 8)
        };
        bytes[..parts.len()].copy_from_slice(parts);
        bytes[parts.len()..len].copy_from_slice(&payload[PREFIX..][..payload_sz]);
        Ok((unique, &bytes[..len]))
    }

    /// One queue and the thread that serves it.
    struct Queue<FS: Filesystem> {
        ring: IoUring<squeue::Entry128, cqueue::Entry>,
        qid: u16,
        entries: Vec<RingEntry>,
        se: SessionEventLoop<FS>,
        dev: Arc<DevFuse>,
        slot: Arc<ReplySlot>,
        /// For a request whose parts cannot be laid out in place aligned.
        scratch: Vec<u64>,
        served: Arc<Served>,
    }

    impl<FS: Filesystem> Queue<FS> {
        fn new(
            qid: u16,
            ring: IoUring<squeue::Entry128, cqueue::Entry>,
            se: SessionEventLoop<FS>,
            rings: &Rings,
            dev: &DevFuse,
        ) -> io::Result<Queue<FS>> {
            Ok(Queue {
                ring,
                qid,
                entries: (0..DEPTH)
                    .map(|_| RingEntry::new(rings.payload_size))
                    .collect::<io::Result<_>>()?,
                se,
                // Its own fd (same connection): replies clone this Arc for
                // every request, and a shared count would bounce its cache
                // line between the CPUs.
                dev: Arc::new(DevFuse(dev.0.try_clone()?)),
                slot: Arc::new(ReplySlot::default()),
                scratch: Vec::new(),
                served: rings.served.clone(),
            })
        }

        /// Serve on a thread of its own, pinned to the queue's CPU.
        fn start(self) -> io::Result<JoinHandle<io::Result<()>>> {
            thread::Builder::new()
                .name(self.se.thread_name.clone())
                .spawn(move || {
                    pin_to_cpu(usize::from(self.qid));
                    no_wakeup_preemption();
                    let qid = self.qid;
                    // The session goes on through /dev/fuse without it.
                    if let Err(e) = self.serve() {
                        warn!("io_uring queue {qid}: {e}");
                    }
                    Ok(())
                })
        }

        /// Enable the ring on this thread, then register every entry.
        fn register(&mut self) -> io::Result<()> {
            self.ring.submitter().register_enable_rings()?;
            // As a fixed file the device is not looked up for every command.
            self.ring
                .submitter()
                .register_files(&[self.dev.as_raw_fd()])?;
            for i in 0..self.entries.len() {
                self.push(i, CMD_REGISTER, 0)?;
            }
            Ok(())
        }

        /// Register every entry, then serve requests until the kernel ends
        /// all entries (unmount, abort) or refuses them.
        fn serve(mut self) -> io::Result<()> {
            if let Err(e) = self.register() {
                give_up(&self.dev, &self.served);
                return Err(e);
            }
            let mut done = Vec::with_capacity(self.entries.len());
            while self.entries.iter().any(|e| e.live) {
                match self.ring.submit_and_wait(1) {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                    Err(e) => return Err(e),
                }
                done.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
                for (i, res) in done.drain(..) {
                    self.completed(i as usize, res)?;
                }
            }
            debug!("io_uring queue {} ended", self.qid);
            Ok(())
        }

        /// Entry `i` completed with `res`: a request to serve, or the end.
        fn completed(&mut self, i: usize, res: i32) -> io::Result<()> {
            if res == -libc::EAGAIN {
                // Registered before the kernel finished INIT: try again.
                thread::sleep(std::time::Duration::from_millis(1));
                return self.push(i, CMD_REGISTER, 0);
            }
            if res < 0 {
                let err = io::Error::from_raw_os_error(-res);
                match -res {
                    // The connection's end (unmount, abort): every entry
                    // says so, and "queue N ended" follows.
                    libc::ENOTCONN | libc::ECANCELED | libc::ECONNABORTED | libc::ENODEV => {
                        trace!("io_uring queue {} entry {i}: {err}", self.qid)
                    }
                    // Refused at registration (the kernel then serves the
                    // connection through /dev/fuse) or broken later.
                    _ => {
                        warn!("io_uring queue {} entry {i}: {err}", self.qid);
                        self.served.give_up();
                    }
                }
                self.entries[i].live = false;
                return Ok(());
            }
            let unique = self.handle(i);
            self.served.add_one(self.qid);
            self.push(i, CMD_COMMIT_AND_FETCH, unique)
        }

        /// Serve the request in entry `i`; its reply is left in the entry.
        /// Returns the request's unique id (the commit id).
        fn handle(&mut self, i: usize) -> u64 {
            let sender = ChannelSender::for_ring(self.dev.clone(), self.slot.clone());
            let (unique, served) = match lay_out(&mut self.entries[i], &mut self.scratch) {
                Ok((unique, bytes)) => {
                    // The opcode, from the header: parsing the whole
                    // operation twice per request showed in profiles.
                    let opcode = u32::from_ne_bytes(bytes[4..8].try_into().expect("4 bytes"));
                    match RequestWithSender::new(sender, bytes) {
                        Some(req) if opcode == FUSE_DESTROY => {
                            req.reply::<ReplyEmpty>().ok();
                            (unique, true)
                        }
                        Some(req) => {
                            req.dispatch(&self.se);
                            (unique, true)
                        }
                        None => (unique, false),
                    }
                }
                Err(unique) => (unique, false),
            };
            if served {
                let slot = self.slot.clone();
                slot.take(|reply| self.put_reply(i, unique, reply));
            } else {
                self.put_error(i, unique, libc::EIO);
            }
            unique
        }

        /// Lay a reply (`fuse_out_header` + arguments) into entry `i`.
        fn put_reply(&mut self, i: usize, unique: u64, reply: &[u8]) {
            let entry = &mut self.entries[i];
            if reply.len() < OUT_HEADER_SIZE || reply.len() - OUT_HEADER_SIZE > entry.payload_size {
                error!("io_uring reply of {} bytes", reply.len());
                return self.put_error(i, unique, libc::EIO);
            }
            let (out, args) = reply.split_at(OUT_HEADER_SIZE);
            entry.header()[..OUT_HEADER_SIZE].copy_from_slice(out);
            entry.payload()[PREFIX..][..args.len()].copy_from_slice(args);
            let size = (args.len() as u32).to_ne_bytes();
            entry.header()[PAYLOAD_SZ_OFFSET..][..4].copy_from_slice(&size);
        }

        fn put_error(&mut self, i: usize, unique: u64, errno: i32) {
            // struct fuse_out_header { u32 len; i32 error; u64 unique; }
            let mut out = [0u8; OUT_HEADER_SIZE];
            out[0..4].copy_from_slice(&(OUT_HEADER_SIZE as u32).to_ne_bytes());
            out[4..8].copy_from_slice(&(-errno).to_ne_bytes());
            out[8..16].copy_from_slice(&unique.to_ne_bytes());
            let entry = &mut self.entries[i];
            entry.header()[..OUT_HEADER_SIZE].copy_from_slice(&out);
            entry.header()[PAYLOAD_SZ_OFFSET..][..4].copy_from_slice(&0u32.to_ne_bytes());
        }

        /// Queue a command for entry `i` (submitted by the next wait).
        fn push(&mut self, i: usize, cmd_op: u32, commit_id: u64) -> io::Result<()> {
            let sqe = opcode::UringCmd80::new(types::Fixed(0), cmd_op)
                .cmd(cmd_req(self.qid, commit_id))
                .addr(Some(self.entries[i].iov.as_ptr() as u64))
                .build()
                .user_data(i as u64);
            let sqe = with_len(sqe, 2);
            // SAFETY: the iovecs and the buffers they point to live as long
            // as the entry, which outlives every command on it (the thread
            // keeps them until the kernel ended all entries).
            unsafe { self.ring.submission().push(&sqe) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))
        }
    }
}
