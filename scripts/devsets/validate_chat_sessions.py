#!/usr/bin/env python3
"""Validate the synthetic multi-session chat dev set (chat_sessions.json + chat_questions.jsonl).

Usage: python3 validate_chat_sessions.py [sessions.json] [questions.jsonl]
Exits 1 if any problem is found, 0 otherwise. Standard library only.
"""
import json, os, re, sys
from collections import Counter, defaultdict
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
SESSIONS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'chat_sessions.json')
QUESTIONS = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, 'chat_questions.jsonl')
TYPES = {'single', 'temporal', 'multi', 'paraphrase', 'open'}
# target share per type and allowed absolute deviation
TARGET = {'single': .35, 'temporal': .20, 'multi': .20, 'paraphrase': .15, 'open': .10}
TOL = .06
STOP = set("""a an the and or but of to in on at for with from by about what which who whom whose when where why how
is are was were be been did do does has have had her his their its it this that these those me my you your he she
they them we our as into after before during over up out than then so if not no yes would could should will can may
might likely""".split())

errors = []
def err(msg): errors.append(msg)

def stems(text, names):
    ws = re.findall(r"[a-z0-9]+", text.lower())
    return {w[:5] for w in ws if len(w) > 2 and w not in STOP and w not in names}

data = json.load(open(SESSIONS, encoding='utf-8'))
convs = data.get('conversations', [])
if len(convs) < 4: err(f'expected >= 4 conversations, got {len(convs)}')
msgs, msg_conv, conv_ids, pairs = {}, {}, set(), set()
names = set()
per_conv_msgs = Counter()
for c in convs:
    cid = c['id']
    if cid in conv_ids: err(f'duplicate conversation id {cid}')
    conv_ids.add(cid)
    sp = c.get('speakers', [])
    if len(sp) != 2: err(f'{cid}: expected 2 speakers')
    pair = frozenset(sp)
    if pair in pairs: err(f'{cid}: speaker pair {sorted(pair)} reused')
    pairs.add(pair); names.update(s.lower() for s in sp)
    sess = c.get('sessions', [])
    if not 12 <= len(sess) <= 16: err(f'{cid}: {len(sess)} sessions (want 12-16)')
    prev = None
    for i, s in enumerate(sess, 1):
        if s.get('session') != i: err(f'{cid}: session numbering broken at {i}')
        try:
            when = datetime.strptime(s['date_time'], '%I:%M %p on %d %B, %Y')
        except (KeyError, ValueError):
            err(f'{cid} s{i}: bad date_time {s.get("date_time")!r}'); when = None
        if when and prev and when <= prev: err(f'{cid} s{i}: session dates not increasing')
        prev = when or prev
        ms = s.get('messages', [])
        if not 12 <= len(ms) <= 25: err(f'{cid} s{i}: {len(ms)} messages (want 12-25)')
        for m in ms:
            mid = m.get('id')
            if mid in msgs: err(f'duplicate message id {mid}')
            if not re.fullmatch(r'c\d+-s\d+-m\d+', str(mid)): err(f'bad message id {mid!r}')
            if m.get('speaker') not in sp: err(f'{mid}: speaker {m.get("speaker")!r} not in {sp}')
            if not str(m.get('text', '')).strip(): err(f'{mid}: empty text')
            msgs[mid] = m; msg_conv[mid] = cid; per_conv_msgs[cid] += 1

qids, by_type, by_conv = set(), Counter(), Counter()
by_conv_type = defaultdict(Counter)
for ln, line in enumerate(open(QUESTIONS, encoding='utf-8'), 1):
    if not line.strip(): continue
    try:
        q = json.loads(line)
    except json.JSONDecodeError as e:
        err(f'questions line {ln}: bad JSON ({e})'); continue
    qid = q.get('id')
    if qid in qids: err(f'duplicate question id {qid}')
    qids.add(qid)
    for k in ('id', 'conversation_id', 'type', 'question', 'answer', 'evidence'):
        if k not in q or q[k] in ('', [], None): err(f'{qid}: missing/empty {k}')
    if q.get('conversation_id') not in conv_ids: err(f'{qid}: unknown conversation {q.get("conversation_id")}')
    t = q.get('type')
    if t not in TYPES: err(f'{qid}: bad type {t!r}')
    ev = q.get('evidence') or []
    if len(set(ev)) != len(ev): err(f'{qid}: duplicate evidence ids')
    for e in ev:
        if e not in msgs: err(f'{qid}: evidence {e} does not exist')
        elif msg_conv[e] != q.get('conversation_id'): err(f'{qid}: evidence {e} from another conversation')
    if t == 'multi' and not 2 <= len(ev) <= 3: err(f'{qid}: multi needs 2-3 evidence messages')
    if t in ('single', 'temporal', 'paraphrase') and len(ev) != 1: err(f'{qid}: {t} needs exactly 1 evidence message')
    if t == 'temporal' and not q.get('question', '').startswith('When'): err(f'{qid}: temporal question should start with "When"')
    if t == 'paraphrase' and all(e in msgs for e in ev):
        shared = stems(q['question'], names) & set().union(*(stems(msgs[e]['text'], names) for e in ev))
        if shared: err(f'{qid}: paraphrase shares content words with evidence: {sorted(shared)}')
    by_type[t] += 1; by_conv[q.get('conversation_id')] += 1; by_conv_type[q.get('conversation_id')][t] += 1

total = sum(by_type.values())
if total < 200: err(f'only {total} questions (want >= 200)')
for cid in conv_ids:
    if by_conv[cid] < 45: err(f'{cid}: only {by_conv[cid]} questions (want >= 45)')
for t, share in TARGET.items():
    got = by_type[t] / total if total else 0
    if abs(got - share) > TOL: err(f'type {t}: share {got:.2f} outside {share:.2f}+-{TOL}')

print(f'messages: {len(msgs)} ' + ' '.join(f'{c}={per_conv_msgs[c]}' for c in sorted(conv_ids)))
print(f'questions: {total} ' + ' '.join(f'{c}={by_conv[c]}' for c in sorted(conv_ids)))
print('types: ' + ' '.join(f'{t}={by_type[t]} ({by_type[t]/max(total,1):.0%})' for t in TARGET))
for c in sorted(conv_ids):
    print(f'  {c}: ' + ' '.join(f'{t}={by_conv_type[c][t]}' for t in TARGET))
if errors:
    print(f'FAIL: {len(errors)} problem(s)')
    for e in errors: print('  -', e)
    sys.exit(1)
print('OK')
