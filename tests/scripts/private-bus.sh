# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced: a private system bus for tests and benchmarks.
#   private_bus DIR TOP  starts dbus-daemon on DIR/bus with the policy of
#   Debian's system.conf (method calls denied unless a policy allows them)
#   plus TOP/units/org.vfiod1.conf and a name for a stand-in polkit; sets
#   bus_pid and exports DBUS_SYSTEM_BUS_ADDRESS. Returns 1 if it did not start.
private_bus() {
        local dir=$1 top=$2
        cat > "$dir/bus.conf" << EOF2
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$dir/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
  <include>$top/units/org.vfiod1.conf</include>
</busconfig>
EOF2
        dbus-daemon --config-file="$dir/bus.conf" --fork --print-pid > "$dir/bus.pid" || return 1
        bus_pid=$(cat "$dir/bus.pid")
        export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/bus
}
