# The bench's own RabbitMQ node: its own name, ports (AMQP 5673, epmd 4370,
# distribution 25673) and dirs, so it never meets another RabbitMQ here.
export RABBITMQ_NODENAME=neutrinobench@localhost
export RABBITMQ_DIST_PORT=25673
export ERL_EPMD_PORT=4370
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_MNESIA_BASE=/var/lib/neutrino-bench/rabbitmq/mnesia
export RABBITMQ_LOG_BASE=/var/log/neutrino-bench/rabbitmq
export RABBITMQ_PID_FILE=/run/neutrino-bench/rabbitmq.pid
export RABBITMQ_ENABLED_PLUGINS_FILE=/var/lib/neutrino-bench/rabbitmq/enabled_plugins
export RABBITMQ_CONFIG_FILE=/run/neutrino-bench/etc/rabbitmq.conf
