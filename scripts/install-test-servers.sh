#!/bin/sh
# Install Dovecot (IMAP+LMTP), Postfix and PostgreSQL for the loopback test servers, and Chromium
# with a Chinese font for the digest's screenshot test; idempotent, non-interactive.
set -eu

export DEBIAN_FRONTEND=noninteractive

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for pkg in dovecot-imapd dovecot-lmtpd postfix postgresql chromium fonts-noto-cjk; do
    installed "$pkg" || missing="$missing $pkg"
done

if [ -z "$missing" ] && [ "$(id -u)" != 0 ]; then
    echo "install-test-servers: dovecot-imapd, dovecot-lmtpd, postfix, postgresql and chromium already installed"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-test-servers: must run as root to install:$missing" >&2
    exit 1
fi

did=""
if [ -n "$missing" ]; then
    # Postfix asks what kind of mail server to be: none (the tests write their own config).
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # Tests run private instances; the packaged services must not start and grab 143/5432.
    # Docker images often ship a policy-rc.d already: keep it, else add ours for the install only.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    # Stale or empty package lists make install fail with 404s: refresh once and retry.
    # shellcheck disable=SC2086
    if ! apt-get install -y -q --no-install-recommends $missing >/tmp/install-test-servers.log 2>&1; then
        apt-get update -q >>/tmp/install-test-servers.log 2>&1
        # The servers are required; Chromium only draws the digest's picture (its test skips
        # with a reason when it is missing), so a failed Chromium install must not stop the run.
        servers=$(printf '%s\n' $missing | grep -v -e chromium -e fonts-noto-cjk | tr '\n' ' ')
        if [ -n "${servers% }" ]; then
            apt-get install -y -q --no-install-recommends $servers >>/tmp/install-test-servers.log 2>&1 || {
                tail -20 /tmp/install-test-servers.log >&2
                exit 1
            }
        fi
        apt-get install -y -q --no-install-recommends $missing >>/tmp/install-test-servers.log 2>&1 ||
            echo "install-test-servers: Chromium could not be installed; the screenshot test will skip" >&2
    fi
    did="installed$missing"
else
    did="dovecot-imapd, dovecot-lmtpd, postfix, postgresql, chromium already installed"
fi

# Stop system services if something started them anyway (no policy-rc.d, or started earlier).
stopped=""
pidfile=/run/dovecot/master.pid
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    # Signal the master directly: doveadm needs a parsable system config, which may be broken.
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    stopped="$stopped dovecot"
fi
if [ -s /var/spool/postfix/pid/master.pid ] && command -v postfix >/dev/null 2>&1 &&
    [ -e /etc/postfix/main.cf ]; then
    postfix stop >/dev/null 2>&1 && stopped="$stopped postfix"
fi
if command -v pg_lsclusters >/dev/null 2>&1; then
    for cluster in $(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 "/" $2}'); do
        pg_ctlcluster "${cluster%/*}" "${cluster#*/}" stop
        stopped="$stopped postgresql-$cluster"
    done
fi
# Under systemd, also keep them from starting at next boot.
if [ -d /run/systemd/system ]; then
    systemctl disable --now dovecot.service postfix.service postgresql.service >/dev/null 2>&1 || true
fi

echo "install-test-servers: $did; system services stopped:${stopped:- none needed}"
