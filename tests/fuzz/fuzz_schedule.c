/* A ProSparse lambda schedule, then lambda along it. */
#include "fuzz.h"
#include "prosparse_schedule.h"

FUZZ_TARGET(fuzz_schedule)
{
    const char *path = fuzz_path("schedule.json", 0);
    fuzz_write(path, data, size);
    prosparse_schedule s;
    cpet_err err;
    if (prosparse_schedule_load(&s, path, &err) == 0)
        for (long t = 1; t <= s.until[s.n - 1] + 1 && t < 100000; t += 1 + t / 7) (void)prosparse_lambda(&s, t);
    return 0;
}
