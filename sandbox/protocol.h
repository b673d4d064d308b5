/* protocol.h - the binary messages of the fnjail launcher.
 *
 * Three conversations use these layouts:
 *   server (src/launcher/protocol.ts) <-> launcher: length-prefixed frames on the
 *     launcher's stdin (requests) and stdout (results);
 *   launcher <-> supervisor (pid 1 of each sandbox): SOCK_SEQPACKET messages, the
 *     execution spec travelling with its file descriptors (SCM_RIGHTS);
 *   worker -> supervisor: a shared memory page (struct fnj_worker_state).
 * All integers are little-endian; fnjail supports x86_64 only for now.
 * Keep src/launcher/protocol.ts in step with this file. */
#ifndef FNJAIL_PROTOCOL_H
#define FNJAIL_PROTOCOL_H

#include <stdint.h>

#define FNJ_PROTOCOL_VERSION 3

#define FNJ_MAX_PATH 4095       /* bytes of a path, without terminator */
#define FNJ_MAX_FUNCTION 255    /* bytes of a function name */
#define FNJ_MAX_FILTER 4096     /* BPF instructions (the kernel's BPF_MAXINSNS) */
#define FNJ_MAX_MESSAGE 1024    /* bytes of a result message, with terminator */
#define FNJ_MAX_LEARNED 512     /* system call numbers a result lists (learn mode) */
#define FNJ_MAX_FRAME (64 * 1024)
#define FNJ_MAX_ARGV 16384      /* bytes of a program's arguments, each NUL-terminated */
#define FNJ_MAX_ARGS 256        /* arguments of a program, argv[0] included */
#define FNJ_MAX_ENV 8192        /* bytes of a program's environment, NAME=VALUE each NUL-terminated */
#define FNJ_MAX_ENV_ENTRIES 64
#define FNJ_MAX_HOSTNAME 64     /* bytes of the sandboxes' host name (the kernel's limit) */

/* How long the launcher keeps a request waiting for a prepared sandbox before
 * it fails it, and how long after its timeout a sandbox's supervisor may take
 * to report before the launcher kills it. With the timeout they bound how long
 * the server can wait for a result. */
#define FNJ_QUEUE_DEADLINE_MS 10000
#define FNJ_BACKSTOP_GRACE_MS 2000

/* Server <-> launcher frames: a header, then `length` bytes of body. */
struct fnj_header {
	uint32_t length;
	uint16_t type;
	uint16_t reserved;
} __attribute__((packed));

enum fnj_frame_type {
	FNJ_FRAME_EXEC = 1,     /* server -> launcher: struct fnj_exec + strings */
	FNJ_FRAME_CANCEL = 2,   /* server -> launcher: uint32_t id */
	FNJ_FRAME_READY = 100,  /* launcher -> server: struct fnj_ready */
	FNJ_FRAME_RESULT = 101, /* launcher -> server: struct fnj_result + message */
};

enum fnj_exec_flags {
	FNJ_EXEC_STDERR_TO_OUTPUT = 1u << 0, /* fd 2 is the output file, else /dev/null */
	FNJ_EXEC_FRESH_NETNS = 1u << 1,      /* a new network namespace for this call */
	FNJ_EXEC_SECCOMP_NOTIFY = 1u << 2,   /* the filter returns USER_NOTIF to refuse */
	FNJ_EXEC_SECCOMP_LEARN = 1u << 3,    /* USER_NOTIF means: record, then allow */
	FNJ_EXEC_SHARED_IPC = 1u << 4,       /* the filter refuses every IPC object call: the
						sandbox's IPC namespace may serve again */
	FNJ_EXEC_STDIN_SOCKET = 1u << 5,     /* program: fd 0 and 1 are the connection the server
						handed over for this id (struct fnj_handoff) */
};

/* What an execution runs. */
enum fnj_kind {
	FNJ_KIND_LIBRARY = 0, /* dlopen the library, call the function (with the input's path) */
	FNJ_KIND_PROGRAM = 1, /* execute the program (from the descriptor the launcher opened) */
	FNJ_KIND_BUILD = 2,   /* run a command (argv[0] looked up in PATH) in the writable work directory */
};

/* One execution. Followed by library, function, input, output, cwd, bundle and
 * work (strings without terminators), the arguments and the environment (each
 * string NUL-terminated), the seccomp filter (filter_len bytes of struct
 * sock_filter) and the tenant's supplementary groups (tenant_groups uint32_t).
 * Which fields a kind uses is checked by the launcher (wire.c). */
struct fnj_exec {
	uint32_t id;
	uint32_t flags;
	uint32_t timeout_ms;
	uint32_t sandbox_uid; /* chosen by the launcher; ignored from the server */
	uint64_t cpu_ms;      /* limits: 0 means "not limited by this field" */
	uint64_t memory_bytes;
	uint64_t max_procs;
	uint64_t max_files;
	uint64_t output_bytes;
	uint64_t tmp_bytes;
	uint16_t library_len;  /* library: the library; program: the executable; build: 0 */
	uint16_t function_len; /* library only */
	uint16_t input_len;    /* library: its argument, placed (0: called without argument);
				  program, build: standard input, read (0: /dev/null) */
	uint16_t output_len;
	uint32_t filter_len; /* 0: no seccomp filter */
	uint32_t tenant_uid; /* who asked: the input file must be readable by them */
	uint32_t tenant_gid;
	uint16_t tenant_groups;
	uint16_t kind;         /* enum fnj_kind */
	uint32_t idle_ms;      /* with FNJ_EXEC_STDIN_SOCKET (TCP): no data either way this long ends
				  the call; 0: no idle limit */
	uint16_t cwd_len;      /* program, build: working directory (0: /tmp; build: the work dir) */
	uint16_t bundle_len;   /* a directory placed read-only at its own path (0: none) */
	uint16_t work_len;     /* build: the directory placed writable at its own path */
	uint16_t argv_len;     /* program, build: bytes of the arguments */
	uint16_t env_len;      /* program, build: bytes of the environment (0: the library's) */
	uint16_t reserved;
} __attribute__((packed));

#define FNJ_MAX_GROUPS 256

struct fnj_ready {
	uint32_t version;
	uint32_t max_sandboxes;
	uint32_t uid_first;
	uint32_t uid_count;
	uint32_t features; /* enum fnj_features */
} __attribute__((packed));

/* What this host lets the launcher enforce beyond what it needs to run at all
 * (it refuses to start without those: see kernel-probe.c). */
enum fnj_features {
	FNJ_FEATURE_PROCESS_ACCOUNTING = 1u << 1, /* every process's end is seen (limits of any process named) */
	FNJ_FEATURE_CGROUP_MEMORY = 1u << 2, /* memory limited per sandbox, OOM kills detected */
	FNJ_FEATURE_CGROUP_PIDS = 1u << 3,   /* process count limited per sandbox */
	FNJ_FEATURE_CGROUP_CPU = 1u << 4,    /* CPU time of all the sandbox's processes limited */
	FNJ_FEATURE_CGROUP_V2 = 1u << 5,     /* the cgroups are v2 (else v1) */
};

/* How an execution ended, as far as the launcher and supervisor can vouch for. */
enum fnj_outcome {
	FNJ_OUTCOME_COMPLETED = 0,        /* the worker exited or was killed: see status */
	FNJ_OUTCOME_TIMED_OUT = 1,        /* wall-clock limit; the sandbox was killed */
	FNJ_OUTCOME_SECCOMP = 2,          /* a refused system call; the sandbox was killed */
	FNJ_OUTCOME_LAUNCH_FAILED = 3,    /* the sandbox could not be set up: see message */
	FNJ_OUTCOME_SUPERVISOR_LOST = 4,  /* the supervisor died without reporting */
	FNJ_OUTCOME_CANCELLED = 5,        /* the server cancelled it */
	FNJ_OUTCOME_CPU_LIMIT = 6,        /* all processes together used their CPU time; killed */
	FNJ_OUTCOME_STOPPED = 7,          /* the worker was stopped (term_signal says by what); killed */
	FNJ_OUTCOME_INPUT_DENIED = 8,     /* the tenant may not read the input file: see message */
	FNJ_OUTCOME_SUPERVISION_FAILED = 9, /* a limit could not be watched (see message); killed */
	FNJ_OUTCOME_IDLE = 10,            /* the connection carried no data for idle_ms; killed */
};

/* How far the worker got. Reported by the worker itself, so only advisory once
 * the library's code has run (constructors run inside dlopen). A program is
 * RUNNING from its exec on (or EXEC_FAILED, the message saying why). */
enum fnj_phase {
	FNJ_PHASE_SETUP = 0,
	FNJ_PHASE_SETUP_FAILED = 1,
	FNJ_PHASE_LOADING = 2,
	FNJ_PHASE_LOAD_FAILED = 3,
	FNJ_PHASE_RESOLVING = 4,
	FNJ_PHASE_RESOLVE_FAILED = 5,
	FNJ_PHASE_NOT_A_FUNCTION = 6,
	FNJ_PHASE_RUNNING = 7,
	FNJ_PHASE_RETURNED = 8,
	FNJ_PHASE_EXEC_FAILED = 9,
};

enum fnj_result_flags {
	FNJ_RESULT_FAULT_ADDRESS = 1u << 0, /* fault_addr is set (reported by the worker) */
	FNJ_RESULT_STACK_OVERFLOW = 1u << 1, /* the fault was at the stack pointer (worker) */
	FNJ_RESULT_OOM_KILL = 1u << 2,       /* the cgroup's out-of-memory killer struck */
	FNJ_RESULT_PROCESS_LIMIT = 1u << 3,  /* a fork or clone failed at the process limit */
	FNJ_RESULT_OUTPUT_LIMIT = 1u << 4,   /* the output file reached its size limit */
	FNJ_RESULT_TMP_FULL = 1u << 5,       /* the private /tmp was full at the end */
	FNJ_RESULT_CPU_LIMIT = 1u << 6,      /* a process reached RLIMIT_CPU, or all together the call's CPU time */
	FNJ_RESULT_FILE_SIZE_LIMIT = 1u << 7, /* a process was stopped by RLIMIT_FSIZE (SIGXFSZ) */
	FNJ_RESULT_OUTPUT_DISK = 1u << 8,    /* the output file held more disk than the output limit
						(released); output_disk_bytes says how much */
	FNJ_RESULT_WORK_FULL = 1u << 9,      /* the work directory's file system was full at the end */
};

struct fnj_result {
	uint32_t id;
	uint32_t outcome; /* enum fnj_outcome */
	uint32_t phase;   /* enum fnj_phase */
	uint32_t flags;   /* enum fnj_result_flags */
	int32_t exit_code;   /* -1 when killed by a signal */
	int32_t term_signal; /* 0 when exited */
	int32_t seccomp_nr;  /* -1 when no call was refused */
	uint32_t seccomp_arch;
	uint32_t sandbox_uid;
	uint32_t procs_killed; /* processes still alive when the sandbox was torn down */
	uint64_t fault_addr;
	uint64_t cpu_us;   /* user + system time of every process reaped (rusage) */
	uint64_t output_disk_bytes; /* disk the output file held at the end (st_blocks) */
	uint64_t maxrss_kb;
	uint64_t run_us;   /* worker start to end */
	uint64_t total_us; /* launcher received the request to result */
	uint64_t memory_peak_bytes; /* cgroup peak, 0 if unknown */
	uint64_t cgroup_cpu_us;     /* CPU of all the sandbox's processes, 0 if unknown */
	uint64_t output_bytes;      /* size of the output file at the end */
	uint16_t message_len;
	uint16_t learned_len; /* learn mode: number of uint16_t syscall numbers after the message */
} __attribute__((packed));

/* What may follow a struct fnj_result: the message (without terminator) and the
 * learned system call numbers. Everything here is sized from these. */
#define FNJ_MAX_RESULT_TAIL ((FNJ_MAX_MESSAGE - 1) + FNJ_MAX_LEARNED * sizeof(uint16_t))
_Static_assert(sizeof(struct fnj_header) + sizeof(struct fnj_result) + FNJ_MAX_RESULT_TAIL <= FNJ_MAX_FRAME,
	       "a result with its message and learned calls must fit in a frame");
_Static_assert(FNJ_MAX_LEARNED <= UINT16_MAX, "learned_len is 16 bits");

/* Launcher <-> supervisor messages (SOCK_SEQPACKET, first uint32_t is the type). */
enum fnj_sup_type {
	FNJ_SUP_READY = 1,       /* supervisor -> launcher: root built, waiting for a spec */
	FNJ_SUP_PREP_FAILED = 2, /* supervisor -> launcher: followed by a message */
	FNJ_SUP_SPEC = 3,        /* launcher -> supervisor: struct fnj_exec + strings + fds */
	FNJ_SUP_REPORT = 4,      /* supervisor -> launcher: struct fnj_result + message */
};

/* FNJ_SUP_SPEC starts with this, then struct fnj_exec and its strings. The
 * file descriptors travel with it, in this order: the output file, the mount of
 * the library or program (unless keep_library; none for a build), the input
 * mount (a library's input), standard input (a program's or build's input file,
 * or its connection), the bundle mount (if bundle_len, unless keep_library), the work directory's
 * mount (if work_len), and the CPU usage file of the sandbox's cgroup (if
 * cpu_usage); at most FNJ_SPEC_MAX_FDS. */
struct fnj_sup_spec {
	uint32_t type;
	uint8_t keep_library; /* the library (or program) and bundle the supervisor has mounted are this call's */
	uint8_t cpu_usage;
	uint8_t memory_by_cgroup; /* the worker then sets no RLIMIT_AS */
	uint8_t pids_by_cgroup;   /* the worker then sets no RLIMIT_NPROC */
	uint8_t cgroup_version;
	uint8_t reserved[3];
} __attribute__((packed));

#define FNJ_SPEC_MAX_FDS 7

/* Supervisor -> worker, on the handshake socket, with the output file's
 * descriptor, then standard input and the program's mount when the call has
 * them: followed by the spec as the launcher sent it. */
struct fnj_worker_go {
	uint8_t memory_by_cgroup;
	uint8_t pids_by_cgroup;
	uint8_t reserved[6];
} __attribute__((packed));

/* Server -> launcher, on the handoff socket (--handoff-socket, SOCK_SEQPACKET):
 * a connection for the execution with this id, the descriptor attached
 * (SCM_RIGHTS), sent before the FNJ_FRAME_EXEC that uses it. */
struct fnj_handoff {
	uint32_t id;
} __attribute__((packed));

/* Written by the worker, read by the supervisor once the worker is gone. */
struct fnj_worker_state {
	volatile uint32_t phase;
	volatile int32_t fault_signal;
	volatile uint64_t fault_addr;
	volatile uint32_t stack_overflow;
	char message[FNJ_MAX_MESSAGE];
};

#endif
