#!/usr/bin/python3
"""Counts and failure causes of a Tempest run, from its subunit v2 stream.

Usage: summarize.py RESULTS.subunit [EXPECT]
       summarize.py --passed RESULTS.subunit   (the ids of the tests that passed, sorted)
Prints run/passed/failed/skipped, the failing tests grouped by cause, and
the skip reasons. The cause of a failure is the exception Tempest raised
plus the last HTTP error response the test received (method, path with ids
replaced by {id}, status, NeutronError type), taken from the test's captured
log (OS_LOG_CAPTURE=1). With EXPECT (a file of test ids, one a line, '#'
comments), every listed test that did not pass is reported as a regression
and the exit status is 1.
"""
import collections
import re
import sys

import subunit
import testtools

ID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}')
REQUEST = re.compile(r'Request \(\w+:\w+\): (\d{3}) (\w+) https?://[^/\s]+(/\S*)')
ERROR_TYPE = re.compile(r'"type": "(\w+)"')
RAISED = re.compile(r'^([A-Za-z_][\w.]*)(?::\s*(.*))?$')  # the exception line ending a traceback


def text(detail):
    return b''.join(detail.iter_bytes()).decode('utf-8', 'replace') if detail else ''


def load(path):
    tests = {}
    with open(path, 'rb') as f:
        result = testtools.StreamToDict(lambda t: tests.__setitem__(t['id'], t))
        result.startTestRun()
        subunit.ByteStreamToStreamResult(f, non_subunit_name='stdout').run(result)
        result.stopTestRun()
    return tests


def short(test_id):
    return re.sub(r'^tempest\.api\.network\.', '', test_id.split('[')[0])


def cause(test):
    details = test['details']
    tb = text(details.get('traceback'))
    raised = ''
    # the exception is the first unindented line after the last frame
    lines = tb.strip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith('  File ')]
    tail = lines[frames[-1] + 1 if frames else 0:]
    for i, line in enumerate(tail):
        m = RAISED.match(line)
        if m:
            raised = m.group(1).rsplit('.', 1)[-1] + (': ' + m.group(2)[:100] if m.group(2) else '')
            # tempest's exceptions put the server's answer on the next line
            if i + 1 < len(tail) and tail[i + 1].startswith('Details: '):
                raised += ' ' + ID.sub('{id}', tail[i + 1][9:])[:160]
            break
    # the captured log's detail is named pythonlogging:'' (the root logger)
    log = ''.join(text(v) for k, v in details.items() if k.startswith('pythonlogging'))
    last = ''
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = REQUEST.search(line)
        if m and int(m.group(1)) >= 400:
            path = ID.sub('{id}', m.group(3).split('?')[0])
            kind = ''
            for body in lines[i + 1:i + 8]:
                k = ERROR_TYPE.search(body)
                if k:
                    kind = ' ' + k.group(1)
                    break
            last = '%s %s -> %s%s' % (m.group(2), path, m.group(1), kind)
    if 'setUpClass' in test['id'] and not raised:
        raised = 'setUpClass failed'
    return '%s | %s' % (last or 'no HTTP error', raised or 'no exception text')


def main():
    if sys.argv[1] == '--passed':
        ids = {t['id'].split('[')[0] for t in load(sys.argv[2]).values() if t['status'] == 'success'}
        print('\n'.join(sorted(ids)))
        return 0
    tests = load(sys.argv[1])
    # a class whose setUpClass failed or was skipped is one entry "setUpClass (tempest...Class)"
    status = collections.Counter(t['status'] for t in tests.values())
    passed = status['success']
    failed = status['fail']
    skipped = status['skip']
    print('run %d, passed %d, failed %d, skipped %d' % (len(tests), passed, failed, skipped))
    groups = collections.defaultdict(list)
    for t in tests.values():
        if t['status'] == 'fail':
            groups[cause(t)].append(short(t['id']))
    if groups:
        print('\nfailures by cause (last HTTP error the test got | exception):')
        for c, ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            print('  %3d  %s' % (len(ids), c))
            for i in sorted(ids):
                print('         %s' % i)
    reasons = collections.Counter()
    for t in tests.values():
        if t['status'] == 'skip':
            reasons[text(t['details'].get('reason')).strip()[:120]] += 1
    if reasons:
        print('\nskip reasons:')
        for r, n in reasons.most_common():
            print('  %3d  %s' % (n, r))
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            expect = [l.strip() for l in f if l.strip() and not l.startswith('#')]
        ok = {t['id'].split('[')[0] for t in tests.values() if t['status'] == 'success'}
        missing = [e for e in expect if e not in ok]
        print('\nexpected to pass: %d, did not: %d' % (len(expect), len(missing)))
        for e in missing:
            print('  REGRESSION %s' % e)
        return 1 if missing else 0
    return 0


if __name__ == '__main__':
    sys.exit(main())
