/* _speedups: the channel fast paths in C (optional; see _accel.py).

Why: a channel operation in Python costs some fifty interpreted calls
(enter, the lock, the wait queue, ready, the run queue), several times a
greenlet switch.  Go's chansend/chanrecv are a few dozen instructions;
these functions are their fast paths, and nothing more.

Invariants, which make this file safe without being a second scheduler:

* The Python methods stay the reference semantics and the slow path.  A
  fast path first checks that the operation completes without parking,
  without a select's claim and without anything unusual on the scheduler
  side (a pending preemption or exception, a scanned G, an M without a P,
  an idle M to wake, a wake from another M).  Only then does it change
  anything.  If any check fails it calls the Python method, which redoes
  the operation from the start, so there is never a half-done operation.
* Everything here runs holding the GIL and calls no Python code while it
  changes channel or scheduler state (deque methods run no Python code;
  the only references dropped meanwhile are to runtime objects that stay
  referenced elsewhere).  Under the GIL that makes it atomic
  with respect to every other thread, so it may skip taking a runtime lock
  (channel or sched.lock) as long as nobody holds it: a held lock means
  another thread is inside a critical section, and the fast path defers to
  the Python method, which waits for it.  Values sent are only stored and
  moved; refcount drops happen after state is consistent.
* No Python code runs inside these functions, so neither backend can land
  a preemption in them: each is one indivisible step, like Go's runtime
  code, which is not preemptible.

Fields of the Python classes (G, M, P, LocalRunQueue, Sudog, Chan: all
__slots__) are read at the offsets of their member descriptors, exactly as
the interpreter's own LOAD_ATTR_SLOT does; the Python classes remain the
one definition of the data model.
*/

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <pythread.h>
#include <errno.h>
#include <sys/socket.h>

/* ------------------------------------------------------------------ Lock */

/* A lock like _thread.lock whose state C can read: the runtime's channel
   locks and sched.lock.  Blocking waits are not interrupted by signals
   (these locks are held for a few operations; a signal handler runs right
   after the acquire instead). */
typedef struct {
    PyObject_HEAD
    PyThread_type_lock lock;
    char locked;
} LockObject;

static PyTypeObject Lock_Type;

static PyObject *
Lock_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "Lock() takes no arguments");
        return NULL;
    }
    LockObject *self = (LockObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_MemoryError, "cannot allocate lock");
        return NULL;
    }
    return (PyObject *)self;
}

static void
Lock_dealloc(LockObject *self)
{
    if (self->lock != NULL) {
        if (self->locked)
            PyThread_release_lock(self->lock);
        PyThread_free_lock(self->lock);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* 1 acquired, 0 not (timeout or non-blocking). */
static int
lock_take(LockObject *self, int blocking, PY_TIMEOUT_T us)
{
    PyLockStatus r = PyThread_acquire_lock_timed(self->lock, 0, 0);
    if (r != PY_LOCK_ACQUIRED && blocking && us != 0) {
        Py_BEGIN_ALLOW_THREADS
        r = PyThread_acquire_lock_timed(self->lock, us, 0);
        Py_END_ALLOW_THREADS
    }
    if (r != PY_LOCK_ACQUIRED)
        return 0;
    self->locked = 1;
    return 1;
}

static PyObject *
Lock_acquire(LockObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int blocking = 1;
    double timeout = -1;
    PyObject *a_blocking = nargs > 0 ? args[0] : NULL;
    PyObject *a_timeout = nargs > 1 ? args[1] : NULL;
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "acquire() takes at most 2 arguments");
        return NULL;
    }
    if (kwnames != NULL) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i);
            PyObject *v = args[nargs + i];
            if (PyUnicode_CompareWithASCIIString(name, "blocking") == 0 && a_blocking == NULL)
                a_blocking = v;
            else if (PyUnicode_CompareWithASCIIString(name, "timeout") == 0 && a_timeout == NULL)
                a_timeout = v;
            else {
                PyErr_Format(PyExc_TypeError, "acquire() got an unexpected keyword argument %R", name);
                return NULL;
            }
        }
    }
    if (a_blocking != NULL && (blocking = PyObject_IsTrue(a_blocking)) < 0)
        return NULL;
    if (a_timeout != NULL && (timeout = PyFloat_AsDouble(a_timeout)) == -1 && PyErr_Occurred())
        return NULL;
    PY_TIMEOUT_T us = -1;
    if (!blocking && timeout != -1) {
        PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
        return NULL;
    }
    if (timeout < 0 && timeout != -1) {
        PyErr_SetString(PyExc_ValueError, "timeout value must be a non-negative number");
        return NULL;
    }
    if (timeout >= 0) {
        if (timeout * 1e6 >= (double)PY_TIMEOUT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
            return NULL;
        }
        us = (PY_TIMEOUT_T)(timeout * 1e6);
    }
    return PyBool_FromLong(lock_take(self, blocking, us));
}

static PyObject *
Lock_enter(LockObject *self, PyObject *Py_UNUSED(ignored))
{
    lock_take(self, 1, -1);
    Py_RETURN_TRUE;
}

static PyObject *
Lock_release(LockObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->locked) {
        PyErr_SetString(PyExc_RuntimeError, "release unlocked lock");
        return NULL;
    }
    self->locked = 0;
    PyThread_release_lock(self->lock);
    Py_RETURN_NONE;
}

static PyObject *
Lock_exit(LockObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return Lock_release(self, NULL);
}

static PyObject *
Lock_locked(LockObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->locked);
}

static PyObject *
Lock_repr(LockObject *self)
{
    return PyUnicode_FromFormat("<%s goroutines._speedups.Lock object at %p>",
                                self->locked ? "locked" : "unlocked", self);
}

static PyMethodDef Lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))Lock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool"},
    {"release", (PyCFunction)Lock_release, METH_NOARGS, "release()"},
    {"locked", (PyCFunction)Lock_locked, METH_NOARGS, "locked() -> bool"},
    {"__enter__", (PyCFunction)Lock_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))Lock_exit, METH_FASTCALL, NULL},
    {NULL}
};

static PyTypeObject Lock_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "goroutines._speedups.Lock",
    .tp_basicsize = sizeof(LockObject),
    .tp_dealloc = (destructor)Lock_dealloc,
    .tp_repr = (reprfunc)Lock_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A runtime lock (like _thread.lock) whose state the fast paths can read.",
    .tp_methods = Lock_methods,
    .tp_new = Lock_new,
};

#define LOCK_FREE(o) ((o) != NULL && Py_IS_TYPE((o), &Lock_Type) && !((LockObject *)(o))->locked)

/* ---------------------------------------------------- slots of the classes */

#define FIELD(o, off) (*(PyObject **)((char *)(o) + (off)))

static inline void
set_field(PyObject *o, Py_ssize_t off, PyObject *v)
{
    PyObject *old = FIELD(o, off);
    FIELD(o, off) = Py_NewRef(v);
    Py_XDECREF(old);
}

/* The offset of slot `name` of class `type`, from its member descriptor. */
static int
slot_offset(PyObject *type, const char *name, Py_ssize_t *out)
{
    PyObject *d = PyObject_GetAttrString(type, name);
    if (d == NULL)
        return -1;
    if (!Py_IS_TYPE(d, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)d)->d_member->type != Py_T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%R.%s is not a __slots__ member", type, name);
        Py_DECREF(d);
        return -1;
    }
    *out = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    return 0;
}

static struct {
    Py_ssize_t m_curg, m_p, m_backend, m_armed, m_signal_pending, m_exiting, m_stats;
    Py_ssize_t g_m, g_preempt, g_pending_exc, g_scopes, g_atomicstatus, g_scan,
               g_waitreason, g_resume_gr, g_abandoned;
    Py_ssize_t p_m, p_runq, p_runnext_handoff, p_timers, p_schedtick, p_schedwhen,
               p_preempt, p_wakeup_pending;
    Py_ssize_t rq_runnext, rq_q;
    Py_ssize_t th_heap;
    Py_ssize_t sg_g, sg_elem, sg_done, sg_success, sg_sel, sg_case;
    Py_ssize_t ch_lock, ch_buf, ch_cap, ch_closed, ch_recvq, ch_sendq;
    Py_ssize_t s_lock, s_nmidle, s_pwait, s_inherit_limit_ns;
    Py_ssize_t g_timer_seq, pd_fd, pd_want, pd_ready, pd_waiters, pd_closed,
               w_g, w_ready, w_closed;
} off;

static PyObject *ms_by_tid;      /* _sched.ms_by_tid */
static PyObject *sched_module;   /* _sched, for its current `sched` */
static PyObject *deque_append, *deque_popleft;  /* unbound deque methods */
static PyObject *py_send, *py_recv, *py_recv_ok;  /* Chan's Python methods */
static PyObject *py_wait_done;   /* _parking.wait_done */
static PyObject *py_park_unlock; /* _sched.park_unlock */
static PyObject *py_ready_all;   /* _sched.ready_all */
static PyObject *py_wait, *py_after_wait, *pd_cls, *iowait_cls;  /* _netpoll's */
static PyObject *str_fileno, *str_lock, *str_kernel, *str_registered, *str_live, *str_nwaiting, *reason_io;
static PyObject *sudog_cls, *chan_closed, *nanotime_fn, *getcurrent_fn;
static PyObject *str_sched, *str_on_execute, *str_switch, *str_switches, *reason_send, *reason_recv;
static PyObject *g_waiting, *g_runnable, *g_running;  /* _g's statuses */
static long local_runq_size;

/* ----------------------------------------------------------- the fast paths */

/* The calling thread's M (borrowed), or NULL with no error. */
static PyObject *
current_m(void)
{
    PyObject *tid = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
    if (tid == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *m = PyDict_GetItemWithError(ms_by_tid, tid);
    Py_DECREF(tid);
    if (m == NULL)
        PyErr_Clear();
    return m;
}

/* The running goroutine's M, if the calling code runs in a goroutine with
   nothing pending at its safe point (Python's enter()); else NULL, no error. */
static PyObject *
current_m_of_plain_g(void)
{
    PyObject *m = current_m();
    if (m == NULL)
        return NULL;
    PyObject *g = FIELD(m, off.m_curg);
    if (g == NULL || g == Py_None || FIELD(g, off.g_preempt) != Py_False
            || FIELD(g, off.g_pending_exc) != Py_None || FIELD(g, off.g_scopes) != Py_None)
        return NULL;
    return m;
}

static inline PyObject *
deque_call(PyObject *method, PyObject *q, PyObject *arg)
{
    PyObject *args[2] = {q, arg};
    return PyObject_Vectorcall(method, args, arg ? 2 : 1, NULL);
}

/* The waiter a wake would complete: q's head if it is a plain (not select)
   Sudog, else NULL.  Borrowed. */
static PyObject *
plain_head(PyObject *q)
{
    if (PySequence_Size(q) <= 0) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *sg = PySequence_GetItem(q, 0);
    if (sg == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(sg);  /* still owned by q */
    return FIELD(sg, off.sg_sel) == Py_None ? sg : NULL;
}

static long long
as_ll(PyObject *o)
{
    return PyLong_Check(o) ? PyLong_AsLongLong(o) : -1;
}

/* _sched.sched (borrowed: the module keeps it), or NULL with no error. */
static PyObject *
current_sched(void)
{
    PyObject *s = PyObject_GetAttr(sched_module, str_sched);
    if (s == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(s);
    return s == Py_None ? NULL : s;
}

/* Can `g`, parked, be readied from `m` (a goroutine or g0 running on it)
   exactly as ready_locked(sched, g, next=True) would, with nothing but the
   run-queue change?  That is: sched.lock free, g waiting and not scanned,
   bound to m itself, which has its P; its ring has room; no idle M to
   wake.  Returns that P (borrowed) or NULL. */
static PyObject *
ready_fast_p(PyObject *m, PyObject *g)
{
    if (FIELD(g, off.g_atomicstatus) != g_waiting || FIELD(g, off.g_scan) != Py_False)
        return NULL;
    if (FIELD(g, off.g_m) != m)
        return NULL;
    PyObject *p = FIELD(m, off.m_p);
    if (p == NULL || p == Py_None || FIELD(p, off.p_m) != m)
        return NULL;
    PyObject *rq = FIELD(p, off.p_runq);
    if (FIELD(rq, off.rq_runnext) != Py_None && PySequence_Size(FIELD(rq, off.rq_q)) >= local_runq_size)
        return NULL;
    PyObject *s = current_sched();
    int ok = s != NULL && LOCK_FREE(FIELD(s, off.s_lock)) && FIELD(s, off.s_nmidle) != NULL
        && as_ll(FIELD(s, off.s_nmidle)) == 0;
    return ok ? p : NULL;
}

/* ready_locked's effect for a G that passed ready_fast_p: runnable, in
   runnext (the old runnext to the tail); `runnext_handoff` if p's own
   goroutine readied it (not g0).  -1 on error (then nothing changed). */
static int
ready_fast(PyObject *p, PyObject *g)
{
    PyObject *handoff = FIELD(FIELD(p, off.p_m), off.m_curg) != Py_None ? Py_True : Py_False;
    PyObject *rq = FIELD(p, off.p_runq);
    PyObject *old = FIELD(rq, off.rq_runnext);
    if (old != Py_None) {
        PyObject *r = deque_call(deque_append, FIELD(rq, off.rq_q), old);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    set_field(g, off.g_atomicstatus, g_runnable);
    set_field(rq, off.rq_runnext, g);
    set_field(p, off.p_runnext_handoff, handoff);
    return 0;
}

/* _sched.ready_all(gs): goready each G of the list gs, from a caller that
   holds no sched.lock (the netpoller readying a batch). */
static PyObject *
ready_all(PyObject *module, PyObject *gs)
{
    PyObject *m = current_m();
    if (m == NULL || !PyList_CheckExact(gs))
        return PyObject_CallOneArg(py_ready_all, gs);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(gs); i++) {
        PyObject *g = PyList_GET_ITEM(gs, i);
        PyObject *p = ready_fast_p(m, g), *r;
        if (p != NULL) {
            if (ready_fast(p, g) < 0)
                return NULL;
            continue;
        }
        PyObject *one = PyList_New(1);
        if (one == NULL)
            return NULL;
        PyList_SET_ITEM(one, 0, Py_NewRef(g));
        r = PyObject_CallOneArg(py_ready_all, one);
        Py_DECREF(one);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

/* Complete the head Sudog of q with (elem, success=True), and ready its G
   (both already checked).  -1 on error, before anything changed. */
static int
complete_and_ready(PyObject *q, PyObject *p, PyObject *elem)
{
    PyObject *sg = deque_call(deque_popleft, q, NULL);
    if (sg == NULL)
        return -1;
    set_field(sg, off.sg_elem, elem);
    set_field(sg, off.sg_success, Py_True);
    set_field(sg, off.sg_done, Py_True);
    int r = ready_fast(p, FIELD(sg, off.sg_g));
    Py_DECREF(sg);
    return r;
}

/* The Python method `fn` called as fn(self, *args, **kwnames): the slow
   path.  (A method descriptor passes self apart from the arguments.) */
static PyObject *
call_py(PyObject *fn, PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyErr_Clear();
    Py_ssize_t n = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[8], **all = n < 8 ? small : PyMem_Malloc((n + 1) * sizeof(PyObject *));
    if (all == NULL)
        return PyErr_NoMemory();
    all[0] = self;
    for (Py_ssize_t i = 0; i < n; i++)
        all[i + 1] = args[i];
    PyObject *r = PyObject_Vectorcall(fn, all, nargs + 1, kwnames);
    if (all != small)
        PyMem_Free(all);
    return r;
}

/* ----------------------------------------------------------------- parking */

/* What gopark's pick_next would choose on m: the G, whether it inherits
   the slice, where it comes from, and the time (one nanotime()). */
typedef struct {
    PyObject *p, *rq, *next;  /* borrowed */
    int inherit, from_runnext;
    long long now, tick;
} Pick;

static long long
nanotime(void)
{
    PyObject *t = PyObject_CallNoArgs(nanotime_fn);
    long long ns = t ? PyLong_AsLongLong(t) : -1;
    Py_XDECREF(t);
    return ns;
}

/* Can the goroutine running on m park on a channel (its lock free) with
   gopark's effect and nothing more: the backend's on_switch_out a no-op
   (nothing armed, no injection in flight), m keeping its P, no M waiting
   for a P, no timer due, and a started G in p's local queue to switch to
   (pick_next's _pick, minus the global queue's turn)?  Fills *pk. */
static int
park_fast_p(PyObject *m, Pick *pk)
{
    if (FIELD(m, off.m_backend) != Py_None
            && (!PyDict_Check(FIELD(m, off.m_armed)) || PyDict_GET_SIZE(FIELD(m, off.m_armed))
                || FIELD(m, off.m_signal_pending) != Py_False))
        return 0;
    PyObject *p = FIELD(m, off.m_p);
    if (FIELD(m, off.m_exiting) != Py_False || p == Py_None)
        return 0;
    PyObject *s = current_sched();
    if (s == NULL || !LOCK_FREE(FIELD(s, off.s_lock)) || PySequence_Size(FIELD(s, off.s_pwait)) != 0)
        return 0;
    long long inherit_limit = as_ll(FIELD(s, off.s_inherit_limit_ns));
    if (inherit_limit < 0 || (pk->now = nanotime()) < 0)
        return 0;
    PyObject *heap = FIELD(FIELD(p, off.p_timers), off.th_heap);
    if (!PyList_Check(heap))
        return 0;
    if (PyList_GET_SIZE(heap)) {
        PyObject *top = PyList_GET_ITEM(heap, 0);
        if (!PyTuple_Check(top) || as_ll(PyTuple_GET_ITEM(top, 0)) <= pk->now)
            return 0;  /* due (or odd): run_timers first */
    }
    pk->p = p;
    pk->rq = FIELD(p, off.p_runq);
    pk->tick = as_ll(FIELD(p, off.p_schedtick));
    if (pk->tick < 0)
        return 0;
    PyObject *next = FIELD(pk->rq, off.rq_runnext);
    if (next != Py_None) {
        pk->from_runnext = 1;
        pk->inherit = FIELD(p, off.p_runnext_handoff) == Py_True
            || pk->now - as_ll(FIELD(p, off.p_schedwhen)) < inherit_limit;
    }
    else {
        if (pk->tick % 61 == 0)
            return 0;  /* the global queue's turn */
        PyObject *q = FIELD(pk->rq, off.rq_q);
        if (PySequence_Size(q) <= 0)
            return 0;
        next = PySequence_GetItem(q, 0);
        if (next == NULL)
            return 0;
        Py_DECREF(next);  /* q keeps it */
        pk->from_runnext = 0;
        pk->inherit = 0;
    }
    if (FIELD(next, off.g_scan) != Py_False || FIELD(next, off.g_abandoned) != Py_False
            || FIELD(next, off.g_resume_gr) == Py_None)
        return 0;
    pk->next = next;
    return 1;
}

/* A Sudog for g carrying elem, as Sudog(g, elem) makes it. */
static PyObject *
new_sudog(PyObject *g, PyObject *elem)
{
    PyTypeObject *t = (PyTypeObject *)sudog_cls;
    PyObject *sg = t->tp_alloc(t, 0);
    if (sg == NULL)
        return NULL;
    FIELD(sg, off.sg_g) = Py_NewRef(g);
    FIELD(sg, off.sg_elem) = Py_NewRef(elem);
    FIELD(sg, off.sg_done) = Py_NewRef(Py_False);
    FIELD(sg, off.sg_success) = Py_NewRef(Py_False);
    FIELD(sg, off.sg_sel) = Py_NewRef(Py_None);
    FIELD(sg, off.sg_case) = PyLong_FromLong(0);
    return sg;
}

/* execute(s, m, next, inherit) */
static int
execute(PyObject *m, Pick *pk)
{
    PyObject *p = pk->p, *next = pk->next;
    if (!pk->inherit) {
        PyObject *tick = PyLong_FromLongLong(pk->tick + 1);
        PyObject *when = PyLong_FromLongLong(pk->now);
        if (tick == NULL || when == NULL) {
            Py_XDECREF(tick);
            Py_XDECREF(when);
            return -1;
        }
        Py_SETREF(FIELD(p, off.p_schedtick), tick);
        Py_SETREF(FIELD(p, off.p_schedwhen), when);
    }
    set_field(next, off.g_preempt, Py_False);
    set_field(p, off.p_preempt, Py_False);
    set_field(p, off.p_wakeup_pending, Py_False);
    set_field(next, off.g_atomicstatus, g_running);
    set_field(next, off.g_m, m);
    set_field(m, off.m_curg, next);
    PyObject *stats = FIELD(m, off.m_stats);
    PyObject *n = PyDict_GetItemWithError(stats, str_switches);
    PyObject *n1 = n && PyLong_Check(n) ? PyLong_FromLongLong(PyLong_AsLongLong(n) + 1) : NULL;
    int r = n1 ? PyDict_SetItem(stats, str_switches, n1) : -1;
    Py_XDECREF(n1);
    return r;
}

/* gopark's effect for the goroutine running on m, for a pick that passed
   park_fast_p: mark it waiting, release `unlock` (a held runtime Lock, or
   NULL), run the picked G (execute, then switch to it).  Returns once the
   goroutine is readied and runs again: 0, or -1 with an exception. */
static int
gopark_commit(PyObject *m, PyObject *reason, PyObject *unlock, Pick *pk)
{
    PyObject *self_gr = PyObject_CallNoArgs(getcurrent_fn);
    if (self_gr == NULL)
        return -1;
    PyObject *g = Py_NewRef(FIELD(m, off.m_curg));
    PyObject *next = Py_NewRef(pk->next), *gr = NULL;
    int rc = -1;
    set_field(g, off.g_waitreason, reason);
    Py_SETREF(FIELD(g, off.g_resume_gr), self_gr);
    set_field(m, off.m_curg, Py_None);
    set_field(g, off.g_atomicstatus, g_waiting);
    if (unlock != NULL) {
        ((LockObject *)unlock)->locked = 0;
        PyThread_release_lock(((LockObject *)unlock)->lock);
    }
    if (pk->from_runnext)
        set_field(pk->rq, off.rq_runnext, Py_None);
    else {
        PyObject *popped = deque_call(deque_popleft, FIELD(pk->rq, off.rq_q), NULL);
        if (popped == NULL)
            goto done;
        Py_DECREF(popped);
    }
    if (execute(m, pk) < 0)
        goto done;
    PyObject *backend = FIELD(m, off.m_backend);
    if (backend != Py_None) {
        PyObject *args[3] = {backend, m, next};
        PyObject *r = PyObject_VectorcallMethod(str_on_execute, args,
                                                3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    gr = Py_NewRef(FIELD(next, off.g_resume_gr));
    PyObject *r = PyObject_CallMethodOneArg(gr, str_switch, Py_None);  /* until g is readied */
    if (r == NULL)
        goto done;
    Py_DECREF(r);
    rc = 0;
done:
    Py_XDECREF(gr);
    Py_DECREF(next);
    Py_DECREF(g);
    return rc;
}

/* Park the goroutine running on m on channel queue q, as park_on(q, lock,
   g, reason, elem) does, for a pick that passed park_fast_p.  Back here
   once readied: the completed Sudog (wait_done handles a throw()), or NULL. */
static PyObject *
park_on(PyObject *q, PyObject *lock, PyObject *m, PyObject *elem, PyObject *reason, Pick *pk)
{
    PyObject *g = Py_NewRef(FIELD(m, off.m_curg));
    PyObject *sg = new_sudog(g, elem), *r = NULL;
    if (sg == NULL)
        goto done;
    r = deque_call(deque_append, q, sg);
    if (r == NULL)
        goto done;
    Py_CLEAR(r);
    if (gopark_commit(m, reason, NULL, pk) < 0)
        goto done;
    if (FIELD(sg, off.sg_done) != Py_True) {
        PyObject *args[5] = {q, lock, g, sg, reason};
        r = PyObject_Vectorcall(py_wait_done, args, 5, NULL);
    }
    else
        r = Py_NewRef(sg);
done:
    Py_XDECREF(sg);
    Py_DECREF(g);
    return r;
}

/* _sched.park_unlock(g, lock, reason): gopark(g, release lock, ...) for
   the calling goroutine g, which holds runtime lock `lock`. */
static PyObject *
park_unlock(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs == 3) {
        PyObject *m = current_m_of_plain_g();
        Pick pk;
        if (m != NULL && FIELD(m, off.m_curg) == args[0] && Py_IS_TYPE(args[1], &Lock_Type)
                && ((LockObject *)args[1])->locked && park_fast_p(m, &pk)) {
            if (gopark_commit(m, args[2], args[1], &pk) < 0)
                return NULL;
            Py_RETURN_NONE;
        }
    }
    PyErr_Clear();
    return PyObject_Vectorcall(py_park_unlock, args, nargs, NULL);
}

/* ------------------------------------------------------- channel operations */

/* Chan.send(value, timeout=None): a waiting receiver or buffer room. */
static PyObject *
chan_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 1 || kwnames != NULL)
        goto slow;
    PyObject *value = args[0];
    PyObject *m = current_m_of_plain_g();
    if (m == NULL || !LOCK_FREE(FIELD(self, off.ch_lock)) || FIELD(self, off.ch_closed) != Py_False)
        goto slow;
    PyObject *recvq = FIELD(self, off.ch_recvq);
    if (PySequence_Size(recvq) > 0) {
        PyObject *sg = plain_head(recvq);
        PyObject *p = sg ? ready_fast_p(m, FIELD(sg, off.sg_g)) : NULL;
        if (p == NULL)
            goto slow;
        if (complete_and_ready(recvq, p, value) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *buf = FIELD(self, off.ch_buf);
    if (PySequence_Size(buf) < PyLong_AsSsize_t(FIELD(self, off.ch_cap))) {
        PyObject *r = deque_call(deque_append, buf, value);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
        Py_RETURN_NONE;
    }
    Pick pk;
    if (!park_fast_p(m, &pk))
        goto slow;
    PyObject *sg = park_on(FIELD(self, off.ch_sendq), FIELD(self, off.ch_lock), m, value,
                           reason_send, &pk);
    if (sg == NULL)
        return NULL;
    int sent = FIELD(sg, off.sg_success) == Py_True;
    Py_DECREF(sg);
    if (!sent) {
        PyErr_SetString(chan_closed, "send on closed channel");
        return NULL;
    }
    Py_RETURN_NONE;
slow:
    return call_py(py_send, self, args, nargs, kwnames);
}

/* The receive fast path for a call with no arguments (no timeout): 1 with
   *value, *ok set (new reference in *value), 0 to take the slow path, -1
   on error. */
static int
recv_fast(PyObject *self, Py_ssize_t nargs, PyObject *kwnames, PyObject **value, int *ok)
{
    if (nargs != 0 || kwnames != NULL)
        return 0;
    PyObject *m = current_m_of_plain_g();
    if (m == NULL || !LOCK_FREE(FIELD(self, off.ch_lock)))
        return 0;
    PyObject *sendq = FIELD(self, off.ch_sendq);
    PyObject *buf = FIELD(self, off.ch_buf);
    if (PySequence_Size(sendq) > 0) {
        PyObject *sg = plain_head(sendq);
        PyObject *p = sg ? ready_fast_p(m, FIELD(sg, off.sg_g)) : NULL;
        if (p == NULL)
            return 0;
        PyObject *v;
        if (PyLong_AsSsize_t(FIELD(self, off.ch_cap)) > 0) {
            /* buffer full: take its head, the sender's value goes to the tail */
            v = deque_call(deque_popleft, buf, NULL);
            if (v == NULL)
                return -1;
            PyObject *r = deque_call(deque_append, buf, FIELD(sg, off.sg_elem));
            if (r == NULL) {
                Py_DECREF(v);
                return -1;
            }
            Py_DECREF(r);
        }
        else
            v = Py_NewRef(FIELD(sg, off.sg_elem));
        if (complete_and_ready(sendq, p, Py_None) < 0) {
            Py_DECREF(v);
            return -1;
        }
        *value = v;
        *ok = 1;
        return 1;
    }
    if (PySequence_Size(buf) > 0) {
        *value = deque_call(deque_popleft, buf, NULL);
        *ok = 1;
        return *value ? 1 : -1;
    }
    if (FIELD(self, off.ch_closed) == Py_True) {
        *value = Py_NewRef(Py_None);
        *ok = 0;
        return 1;
    }
    Pick pk;
    if (!park_fast_p(m, &pk))
        return 0;
    PyObject *sg = park_on(FIELD(self, off.ch_recvq), FIELD(self, off.ch_lock), m, Py_None,
                           reason_recv, &pk);
    if (sg == NULL)
        return -1;
    *value = Py_NewRef(FIELD(sg, off.sg_elem));
    *ok = FIELD(sg, off.sg_success) == Py_True;
    Py_DECREF(sg);
    return 1;
}

/* Chan.recv_ok(timeout=None) */
static PyObject *
chan_recv_ok(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *value;
    int ok, r = recv_fast(self, nargs, kwnames, &value, &ok);
    if (r < 0)
        return NULL;
    if (r == 0)
        return call_py(py_recv_ok, self, args, nargs, kwnames);
    PyObject *t = PyTuple_Pack(2, value, ok ? Py_True : Py_False);
    Py_DECREF(value);
    return t;
}

/* Chan.recv(timeout=None); a closed channel takes the slow path, which raises. */
static PyObject *
chan_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *value;
    int ok, r = recv_fast(self, nargs, kwnames, &value, &ok);
    if (r < 0)
        return NULL;
    if (r == 1 && ok)
        return value;
    if (r == 1)
        Py_DECREF(value);
    return call_py(py_recv, self, args, nargs, kwnames);
}

static int
offsets(PyObject *cls, const char *const *names, Py_ssize_t *const *outs)
{
    for (; *names != NULL; names++, outs++)
        if (slot_offset(cls, *names, *outs) < 0)
            return -1;
    return 0;
}

#define SLOTS(cls, ...) offsets((cls), (const char *const[]){__VA_ARGS__, NULL}, \
                                (Py_ssize_t *const[])

/* ---------------------------------------------------------------- netpoll */

/* A new IOWait(g), as its __init__ makes it. */
static PyObject *
new_iowait(PyObject *g)
{
    PyTypeObject *t = (PyTypeObject *)iowait_cls;
    PyObject *w = t->tp_alloc(t, 0);
    if (w == NULL)
        return NULL;
    FIELD(w, off.w_g) = Py_NewRef(g);
    FIELD(w, off.w_ready) = Py_NewRef(Py_False);
    FIELD(w, off.w_closed) = Py_NewRef(Py_False);
    return w;
}

/* Is fd registered with an epoll kernel that needs no call to wait on it
   (_Epoll.set would return at once; it is "live": no netpoll_break)? */
static int
kernel_ready_for(PyObject *poller, PyObject *fd)
{
    PyObject *kernel = PyObject_GetAttr(poller, str_kernel);
    PyObject *live = kernel ? PyObject_GetAttr(kernel, str_live) : NULL;
    PyObject *reg = live ? PyObject_GetAttr(kernel, str_registered) : NULL;
    int ok = reg != NULL && live == Py_True && PyAnySet_Check(reg) && PySet_Contains(reg, fd) == 1;
    Py_XDECREF(kernel);
    Py_XDECREF(live);
    Py_XDECREF(reg);
    PyErr_Clear();
    return ok;
}

static int
set_ll(PyObject *o, Py_ssize_t offset, long long v)
{
    PyObject *n = PyLong_FromLongLong(v);
    if (n == NULL)
        return -1;
    Py_SETREF(FIELD(o, offset), n);
    return 0;
}

/* _netpoll.wait(pd, poller, mode, timeout) without a timeout, when nothing
   unusual is going on: wait_many's effect for one descriptor — take a kept
   edge, or add an IOWait and park — and after_wait's for a plain wake. */
static PyObject *
netpoll_wait(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || args[3] != Py_None || !Py_IS_TYPE(args[0], (PyTypeObject *)pd_cls)
            || !PyLong_CheckExact(args[2]))
        goto slow;
    PyObject *pd = args[0], *poller = args[1], *mode = args[2];
    long long md = as_ll(mode);
    PyObject *m = current_m_of_plain_g();
    if (m == NULL || FIELD(pd, off.pd_closed) != Py_False)
        goto slow;
    PyObject *lock = PyObject_GetAttr(poller, str_lock);
    int free = LOCK_FREE(lock);
    Py_XDECREF(lock);
    if (!free)
        goto slow;
    PyObject *g = FIELD(m, off.m_curg);
    long long ready = as_ll(FIELD(pd, off.pd_ready)), want = as_ll(FIELD(pd, off.pd_want));
    if (ready < 0 || want < 0)
        goto slow;
    if (ready & md) {  /* an edge nobody waited for: retry the call */
        if (set_ll(pd, off.pd_ready, ready & ~md) < 0 || set_ll(g, off.g_timer_seq, 0) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *nwaiting = NULL;
    if (!(want & md)) {
        if (!kernel_ready_for(poller, FIELD(pd, off.pd_fd))
                || (nwaiting = PyObject_GetAttr(poller, str_nwaiting)) == NULL)
            goto slow;
    }
    PyObject *waiters = PyDict_GetItemWithError(FIELD(pd, off.pd_waiters), mode);
    Pick pk;
    if (waiters == NULL || !PyList_CheckExact(waiters) || !park_fast_p(m, &pk)) {
        Py_XDECREF(nwaiting);
        goto slow;
    }
    PyObject *w = new_iowait(g);
    if (w == NULL || PyList_Append(waiters, w) < 0) {
        Py_XDECREF(w);
        Py_XDECREF(nwaiting);
        return NULL;
    }
    if (nwaiting != NULL) {
        PyObject *n = PyLong_FromLongLong(as_ll(nwaiting) + 1);
        Py_DECREF(nwaiting);
        if (n == NULL || set_ll(pd, off.pd_want, want | md) < 0
                || PyObject_SetAttr(poller, str_nwaiting, n) < 0) {
            Py_XDECREF(n);
            Py_DECREF(w);
            return NULL;
        }
        Py_DECREF(n);
    }
    PyObject *r = NULL;
    if (gopark_commit(m, reason_io, NULL, &pk) < 0)
        goto done;
    if (FIELD(w, off.w_ready) == Py_True && FIELD(w, off.w_closed) == Py_False) {
        r = set_ll(g, off.g_timer_seq, 0) < 0 ? NULL : Py_NewRef(Py_None);
        goto done;
    }
    PyObject *item = PyTuple_Pack(2, pd, mode);
    PyObject *items = item ? PyList_New(1) : NULL;
    if (items != NULL) {
        PyList_SET_ITEM(items, 0, item);
        PyObject *a[4] = {poller, items, w, Py_None};
        PyObject *res = PyObject_Vectorcall(py_after_wait, a, 4, NULL);
        Py_DECREF(items);
        if (res != NULL) {
            Py_DECREF(res);  /* never False without a timeout */
            r = Py_NewRef(Py_None);
        }
    }
    else
        Py_XDECREF(item);
done:
    Py_DECREF(w);
    return r;
slow:
    PyErr_Clear();
    return PyObject_Vectorcall(py_wait, args, nargs, NULL);
}

/* recv_nb(sock, bufsize, flags=0): sock.recv() for a socket whose
   descriptor never blocks, but None where it would raise BlockingIOError:
   a would-block is the common case of a cooperative read, and raising and
   catching the exception (its message decoded from strerror) costs more
   than the call. */
static PyObject *
recv_nb(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "recv_nb(sock, bufsize, flags=0)");
        return NULL;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    long flags = nargs > 2 ? PyLong_AsLong(args[2]) : 0;
    if ((n == -1 || flags == -1) && PyErr_Occurred())
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "negative buffersize in recv");
        return NULL;
    }
    PyObject *fileno = PyObject_CallMethodNoArgs(args[0], str_fileno);
    long fd = fileno ? PyLong_AsLong(fileno) : -1;
    Py_XDECREF(fileno);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    if (fd < 0) {  /* closed: what socket.recv says */
        errno = EBADF;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *buf = PyBytes_FromStringAndSize(NULL, n);
    if (buf == NULL || n == 0)  /* recv(0) is b"" without a call, as in socket.recv */
        return buf;
    for (;;) {
        ssize_t got = recv((int)fd, PyBytes_AS_STRING(buf), (size_t)n, (int)flags);
        if (got >= 0) {
            if (got != n && _PyBytes_Resize(&buf, got) < 0)
                return NULL;
            return buf;
        }
        if (errno == EINTR) {
            if (PyErr_CheckSignals() < 0)
                break;
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            Py_DECREF(buf);
            Py_RETURN_NONE;
        }
        PyErr_SetFromErrno(PyExc_OSError);
        break;
    }
    Py_DECREF(buf);
    return NULL;
}

static PyObject *
install_netpoll(PyObject *module, PyObject *args)
{
    PyObject *g_cls, *pd_c, *w_c, *wait, *after;
    if (!PyArg_ParseTuple(args, "OOOOO:install_netpoll", &g_cls, &pd_c, &w_c, &wait, &after))
        return NULL;
    if (SLOTS(g_cls, "timer_seq") {&off.g_timer_seq}) < 0
        || SLOTS(pd_c, "fd", "want", "ready", "waiters", "closed")
                 {&off.pd_fd, &off.pd_want, &off.pd_ready, &off.pd_waiters, &off.pd_closed}) < 0
        || SLOTS(w_c, "g", "ready", "closed") {&off.w_g, &off.w_ready, &off.w_closed}) < 0)
        return NULL;
    if (!PyType_Check(pd_c) || !PyType_Check(w_c)) {
        PyErr_SetString(PyExc_TypeError, "install_netpoll(): PollDesc and IOWait must be classes");
        return NULL;
    }
    Py_XSETREF(pd_cls, Py_NewRef(pd_c));
    Py_XSETREF(iowait_cls, Py_NewRef(w_c));
    Py_XSETREF(py_wait, Py_NewRef(wait));
    Py_XSETREF(py_after_wait, Py_NewRef(after));
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------ installation */

static PyMethodDef chan_fast_methods[] = {
    {"send", (PyCFunction)(void (*)(void))chan_send, METH_FASTCALL | METH_KEYWORDS,
     "Send value; see the Python method for the contract."},
    {"recv", (PyCFunction)(void (*)(void))chan_recv, METH_FASTCALL | METH_KEYWORDS,
     "Receive a value; see the Python method for the contract."},
    {"recv_ok", (PyCFunction)(void (*)(void))chan_recv_ok, METH_FASTCALL | METH_KEYWORDS,
     "Go's `v, ok := <-ch`; see the Python method for the contract."},
};

/* A new reference to module.name, or NULL with an exception. */
static PyObject *
import_attr(const char *module, const char *name)
{
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL)
        return NULL;
    PyObject *v = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return v;
}

static PyObject *
install(PyObject *module, PyObject *args)
{
    PyObject *sched_mod, *s_cls, *g_cls, *m_cls, *p_cls, *rq_cls, *th_cls, *sg_cls, *chan_cls;
    if (!PyArg_ParseTuple(args, "OOOOOOOOO:install", &sched_mod, &s_cls, &g_cls, &m_cls, &p_cls,
                          &rq_cls, &th_cls, &sg_cls, &chan_cls))
        return NULL;
    if (SLOTS(m_cls, "curg", "p", "backend", "armed", "signal_pending", "exiting", "stats")
              {&off.m_curg, &off.m_p, &off.m_backend, &off.m_armed, &off.m_signal_pending,
               &off.m_exiting, &off.m_stats}) < 0
        || SLOTS(g_cls, "m", "preempt", "pending_exc", "scopes", "atomicstatus", "scan",
                 "waitreason", "resume_gr", "abandoned")
                 {&off.g_m, &off.g_preempt, &off.g_pending_exc, &off.g_scopes,
                  &off.g_atomicstatus, &off.g_scan, &off.g_waitreason, &off.g_resume_gr,
                  &off.g_abandoned}) < 0
        || SLOTS(p_cls, "m", "runq", "runnext_handoff", "timers", "schedtick", "schedwhen",
                 "preempt", "wakeup_pending")
                 {&off.p_m, &off.p_runq, &off.p_runnext_handoff, &off.p_timers,
                  &off.p_schedtick, &off.p_schedwhen, &off.p_preempt, &off.p_wakeup_pending}) < 0
        || SLOTS(s_cls, "lock", "nmidle", "pwait", "inherit_limit_ns")
                 {&off.s_lock, &off.s_nmidle, &off.s_pwait, &off.s_inherit_limit_ns}) < 0
        || SLOTS(rq_cls, "runnext", "q") {&off.rq_runnext, &off.rq_q}) < 0
        || SLOTS(th_cls, "heap") {&off.th_heap}) < 0
        || SLOTS(sg_cls, "g", "elem", "done", "success", "sel", "case")
                 {&off.sg_g, &off.sg_elem, &off.sg_done, &off.sg_success, &off.sg_sel,
                  &off.sg_case}) < 0
        || SLOTS(chan_cls, "_lock", "_buf", "_cap", "_closed", "_recvq", "_sendq")
                 {&off.ch_lock, &off.ch_buf, &off.ch_cap, &off.ch_closed, &off.ch_recvq,
                  &off.ch_sendq}) < 0)
        return NULL;
    PyObject *size = import_attr("goroutines._runq", "LOCAL_RUNQ_SIZE");
    local_runq_size = size ? PyLong_AsLong(size) : -1;
    Py_XDECREF(size);
    Py_XSETREF(g_waiting, import_attr("goroutines._g", "Gwaiting"));
    Py_XSETREF(g_runnable, import_attr("goroutines._g", "Grunnable"));
    Py_XSETREF(g_running, import_attr("goroutines._g", "Grunning"));
    Py_XSETREF(py_wait_done, import_attr("goroutines._parking", "wait_done"));
    Py_XSETREF(py_park_unlock, PyObject_GetAttrString(sched_mod, "park_unlock"));
    Py_XSETREF(py_ready_all, PyObject_GetAttrString(sched_mod, "ready_all"));
    Py_XSETREF(chan_closed, import_attr("goroutines._chan", "ChanClosed"));
    PyObject *deque = import_attr("collections", "deque");
    Py_XSETREF(deque_append, deque ? PyObject_GetAttrString(deque, "append") : NULL);
    Py_XSETREF(deque_popleft, deque ? PyObject_GetAttrString(deque, "popleft") : NULL);
    Py_XDECREF(deque);
    Py_XSETREF(ms_by_tid, PyObject_GetAttrString(sched_mod, "ms_by_tid"));
    Py_XSETREF(nanotime_fn, PyObject_GetAttrString(sched_mod, "nanotime"));
    Py_XSETREF(getcurrent_fn, PyObject_GetAttrString(sched_mod, "_getcurrent"));
    Py_XSETREF(sched_module, Py_NewRef(sched_mod));
    Py_XSETREF(sudog_cls, Py_NewRef(sg_cls));
    Py_XSETREF(py_send, PyObject_GetAttrString(chan_cls, "send"));
    Py_XSETREF(py_recv, PyObject_GetAttrString(chan_cls, "recv"));
    Py_XSETREF(py_recv_ok, PyObject_GetAttrString(chan_cls, "recv_ok"));
    if (local_runq_size < 0 || !g_waiting || !g_runnable || !g_running || !py_wait_done
            || !py_park_unlock || !py_ready_all
            || !chan_closed || !deque_append || !deque_popleft || !ms_by_tid
            || !PyDict_Check(ms_by_tid) || !nanotime_fn || !getcurrent_fn || !py_send
            || !py_recv || !py_recv_ok || !PyType_Check(sg_cls)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "install(): unexpected runtime objects");
        return NULL;
    }
    for (size_t i = 0; i < sizeof chan_fast_methods / sizeof chan_fast_methods[0]; i++) {
        PyObject *descr = PyDescr_NewMethod((PyTypeObject *)chan_cls, &chan_fast_methods[i]);
        if (descr == NULL || PyObject_SetAttrString(chan_cls, chan_fast_methods[i].ml_name, descr) < 0) {
            Py_XDECREF(descr);
            return NULL;
        }
        Py_DECREF(descr);
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"recv_nb", (PyCFunction)(void (*)(void))recv_nb, METH_FASTCALL,
     "recv_nb(sock, bufsize, flags=0): sock.recv(), None instead of BlockingIOError."},
    {"wait", (PyCFunction)(void (*)(void))netpoll_wait, METH_FASTCALL,
     "wait(pd, poller, mode, timeout): _netpoll.wait with a C fast path."},
    {"install_netpoll", install_netpoll, METH_VARARGS,
     "install_netpoll(G, PollDesc, IOWait, wait, after_wait): _netpoll's fast path."},
    {"ready_all", ready_all, METH_O, "ready_all(gs): _sched.ready_all with a C fast path."},
    {"park_unlock", (PyCFunction)(void (*)(void))park_unlock, METH_FASTCALL,
     "park_unlock(g, lock, reason): _sched.park_unlock with a C fast path."},
    {"install", install, METH_VARARGS,
     "install(_sched, Sched, G, M, P, LocalRunQueue, TimerHeap, Sudog, Chan): put the fast paths in Chan."},
    {NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "goroutines._speedups",
    .m_doc = "The channel fast paths in C; see _accel.py.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&Lock_Type) < 0)
        return NULL;
    struct { PyObject **where; const char *s; } names[] = {
        {&str_sched, "sched"},
        {&str_on_execute, "on_execute"}, {&str_switch, "switch"}, {&str_switches, "switches"},
        {&reason_send, "chan send"}, {&reason_recv, "chan receive"}, {&reason_io, "IO wait"},
        {&str_fileno, "fileno"}, {&str_lock, "lock"}, {&str_kernel, "kernel"}, {&str_registered, "registered"},
        {&str_live, "live"}, {&str_nwaiting, "nwaiting"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*names[i].where = PyUnicode_InternFromString(names[i].s)) == NULL)
            return NULL;
    PyObject *mod = PyModule_Create(&speedups_module);
    if (mod == NULL)
        return NULL;
    if (PyModule_AddObjectRef(mod, "Lock", (PyObject *)&Lock_Type) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
