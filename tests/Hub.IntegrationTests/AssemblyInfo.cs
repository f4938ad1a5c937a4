// Every class starts its own Hub processes on a 2-core budget, and the fault run restarts RabbitMQ itself:
// the classes run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
