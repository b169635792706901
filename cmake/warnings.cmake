# Warnings are errors, everywhere we compile our own code.
function(tl_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
        -Wpointer-arith -Wcast-qual -Wvla -Wundef -Wno-unused-parameter)
endfunction()
